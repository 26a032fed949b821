package ai.parallax.tensors.quant;

import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * Q8 weights: every row of a matrix cut into blocks of {@value #BLOCK} consecutive values, each block stored as
 * int8 with one float scale, {@code w ≈ q · scale} with {@code scale = max|w| / 127} (the last block of a row may
 * be shorter). A Q8 matrix is an {@link DType#I8} tensor carrying {@link BlockScales} of block
 * {@code [1, }{@value #BLOCK}{@code ]}: the kernels read one byte per weight instead of two (BF16) or four.
 */
public final class Q8Weights {
    /** Values per block, as in GGML's Q8_0. */
    public static final int BLOCK = 32;

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private Q8Weights() {
    }

    /** Whether {@code t} is a Q8 matrix: I8 with one scale per {@value #BLOCK} values of a row. */
    public static boolean isQ8(Tensor t) {
        BlockScales s = t.blockScales();
        return t.dtype() == DType.I8 && s != null && s.blockRows() == 1 && s.blockCols() == BLOCK
                && s.scales().dtype() == DType.F32;
    }

    /** Whether {@code t} can be converted: an unscaled F32, BF16 or F16 matrix. */
    public static boolean canQuantize(Tensor t) {
        return t.rank() == 2 && t.blockScales() == null
                && (t.dtype() == DType.F32 || t.dtype() == DType.BF16 || t.dtype() == DType.F16);
    }

    /**
     * Converts a float matrix to Q8 in memory from {@code arena}; rows are converted in parallel. The result keeps
     * the weight's name; its scales are named {@code <name>.q8_scales}.
     */
    public static Tensor quantize(Tensor weight, Arena arena) {
        if (!canQuantize(weight)) {
            throw new IllegalArgumentException("cannot convert tensor '" + weight + "' to Q8: it must be an F32, BF16 "
                    + "or F16 matrix without block scales");
        }
        long rows = weight.dim(0);
        long cols = weight.dim(1);
        long blocksPerRow = (cols + BLOCK - 1) / BLOCK;
        MemorySegment q = arena.allocate(rows * cols, 64);
        MemorySegment scales = arena.allocate(rows * blocksPerRow * Float.BYTES, 64);
        IntStream.range(0, Math.toIntExact(rows)).parallel().forEach(r -> {
            float[] block = new float[BLOCK];
            for (long b = 0; b < blocksPerRow; b++) {
                long start = r * cols + b * BLOCK;
                int length = (int) Math.min(BLOCK, cols - b * BLOCK);
                float max = 0;
                for (int i = 0; i < length; i++) {
                    block[i] = FloatFormats.readFloat(weight, start + i);
                    max = Math.max(max, Math.abs(block[i]));
                }
                float scale = max / 127f;
                float inverse = scale == 0 ? 0 : 1 / scale;
                for (int i = 0; i < length; i++) {
                    q.set(ValueLayout.JAVA_BYTE, start + i, (byte) Math.round(block[i] * inverse));
                }
                scales.set(FLOAT, (r * blocksPerRow + b) * Float.BYTES, scale);
            }
        });
        Tensor scaleTensor = new Tensor(weight.name() + ".q8_scales", DType.F32, new long[] {rows, blocksPerRow},
                scales);
        return new Tensor(weight.name(), DType.I8, new long[] {rows, cols}, q)
                .withBlockScales(new BlockScales(scaleTensor, 1, BLOCK));
    }

    /** Element {@code (row, col)} of a Q8 matrix, dequantised. */
    public static float value(Tensor q8, long row, long col) {
        long cols = q8.dim(1);
        byte stored = q8.data().get(ValueLayout.JAVA_BYTE, row * cols + col);
        return stored * q8.blockScales().scale(row, col / BLOCK);
    }

    /** Bytes a Q8 matrix occupies, scales included. */
    public static long byteSize(Tensor q8) {
        return q8.byteSize() + q8.blockScales().scales().byteSize();
    }
}

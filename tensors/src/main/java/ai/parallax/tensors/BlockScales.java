package ai.parallax.tensors;

import java.util.Arrays;
import java.util.Objects;

/**
 * Block-wise dequantisation scales of a quantised weight matrix {@code [rows, cols]}, as FP8 checkpoints store
 * them ({@code weight_scale_inv} of Qwen3-*-FP8 and DeepSeek-V3): element {@code (r, c)} of the weight means
 * {@code stored(r, c) · scales[r / blockRows][c / blockCols]}. The last block of a row or column may be partial, so
 * the scale tensor is {@code [ceil(rows / blockRows), ceil(cols / blockCols)]}, in F32 or BF16.
 */
public record BlockScales(Tensor scales, int blockRows, int blockCols) {

    public BlockScales {
        Objects.requireNonNull(scales, "scales");
        if (blockRows <= 0 || blockCols <= 0) {
            throw new IllegalArgumentException("block size [" + blockRows + ", " + blockCols + "] of scales '"
                    + scales.name() + "' must be positive");
        }
        if (scales.dtype() != DType.F32 && scales.dtype() != DType.BF16) {
            throw new IllegalArgumentException("block scales '" + scales.name() + "' have dtype " + scales.dtype()
                    + "; supported: F32, BF16");
        }
        if (scales.rank() != 2) {
            throw new IllegalArgumentException("block scales '" + scales.name() + "' have shape "
                    + Arrays.toString(scales.shape()) + "; expected a matrix");
        }
    }

    /** The scale shape a {@code [rows, cols]} weight needs with this block size. */
    public static long[] expectedShape(long rows, long cols, int blockRows, int blockCols) {
        return new long[] {ceilDiv(rows, blockRows), ceilDiv(cols, blockCols)};
    }

    /** Whether these scales cover a weight of {@code [rows, cols]} exactly, edge blocks included. */
    public boolean fits(long rows, long cols) {
        return Arrays.equals(scales.shape(), expectedShape(rows, cols, blockRows, blockCols));
    }

    /** The scale of block {@code (blockRow, blockCol)}, as a float. */
    public float scale(long blockRow, long blockCol) {
        return FloatFormats.readFloat(scales, blockRow * scales.rowLength() + blockCol);
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}

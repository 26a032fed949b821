package ai.parallax.models.deepseek;

import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The per-head matrices of absorbed latent attention, rearranged at load time from {@code kv_b_proj} (per head:
 * {@code nope} rows of W_UK, then {@code v} rows of W_UV, each {@code [.., L]}):
 *
 * <pre>
 * query[h] [L+R, nope+R] = [[W_UKᵀ, 0], [0, P]]   q_head [q_nope, q_rope] ↦ [W_UKᵀ q_nope, P q_rope]
 * value[h] [v, L+R]      = [W_UV, 0]              attended latent row [c, rope part] ↦ W_UV c
 * </pre>
 *
 * P moves the rotary part from DeepSeek's interleaved order to rotate-half order (identity without
 * {@code rope_interleave}). Entries are exact copies of the checkpoint's, in its own dtype: block-scaled FP8 stays
 * FP8 with its scales whenever the heads' rows and the latent fall on whole blocks (DeepSeek-V3 and Kimi-K2: blocks
 * of 128, nope = v = 128, L = 512), since transposing a block keeps its scale. Otherwise an FP8 weight is stored
 * dequantised in F32, which costs four times as much but is still exact.
 */
final class AbsorbedProjections implements AutoCloseable {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    final Tensor[] query;
    final Tensor[] value;
    final long bytes;
    private final Arena arena = Arena.ofShared();

    AbsorbedProjections(Tensor kvUp, DeepSeekConfig ds, int heads, String prefix) {
        query = new Tensor[heads];
        value = new Tensor[heads];
        DType dtype = storedDtype(kvUp.dtype(), kvUp.blockScales() == null ? 0 : kvUp.blockScales().blockRows(),
                kvUp.blockScales() == null ? 0 : kvUp.blockScales().blockCols(), ds);
        long total = 0;
        for (int h = 0; h < heads; h++) {
            if (dtype == kvUp.dtype() && kvUp.blockScales() != null) {
                query[h] = fp8Query(kvUp, ds, h, prefix);
                value[h] = fp8Value(kvUp, ds, h, prefix);
            } else {
                query[h] = encode(queryValues(kvUp, ds, h), dtype, prefix + "absorbed_query." + h, ds.latentWidth(),
                        ds.queryHeadDim());
                value[h] = encode(valueValues(kvUp, ds, h), dtype, prefix + "absorbed_value." + h,
                        ds.valueHeadDim(), ds.latentWidth());
            }
            total += byteSize(query[h]) + byteSize(value[h]);
        }
        bytes = total;
    }

    /**
     * The dtype the matrices keep for a {@code kv_b_proj} of {@code dtype} (with blocks of {@code blockRows ×
     * blockCols} when FP8): its own when every block maps onto whole blocks, else F32.
     */
    static DType storedDtype(DType dtype, int blockRows, int blockCols, DeepSeekConfig ds) {
        return switch (dtype) {
            case F32, BF16, F16 -> dtype;
            case F8_E4M3, F8_E5M2 -> blockRows > 0 && blockRows == blockCols
                    && ds.nopeHeadDim() % blockRows == 0 && ds.valueHeadDim() % blockRows == 0
                    && ds.kvLoraRank() % blockRows == 0 ? dtype : DType.F32;
            default -> throw new IllegalArgumentException("kv_b_proj of dtype " + dtype);
        };
    }

    /** Bytes of one layer's matrices (FP8 scales included), for a {@code kv_b_proj} of {@code dtype}. */
    static long bytesPerLayer(DeepSeekConfig ds, int heads, DType kvUpDtype, Fp8Quantization quantization) {
        int b = quantization == null ? 0 : quantization.blockRows();
        int bc = quantization == null ? 0 : quantization.blockCols();
        DType dtype = storedDtype(kvUpDtype, b, bc, ds);
        long lr = ds.latentWidth();
        long qk = ds.queryHeadDim();
        long v = ds.valueHeadDim();
        long perHead = (lr * qk + v * lr) * dtype.byteSize();
        if (dtype == DType.F8_E4M3 || dtype == DType.F8_E5M2) {
            perHead += (ceilDiv(lr, b) * ceilDiv(qk, b) + ceilDiv(v, b) * ceilDiv(lr, b)) * Float.BYTES;
        }
        return heads * perHead;
    }

    private static float[] queryValues(Tensor kvUp, DeepSeekConfig ds, int h) {
        int l = ds.kvLoraRank();
        int r = ds.ropeHeadDim();
        int nope = ds.nopeHeadDim();
        int qk = ds.queryHeadDim();
        long base = (long) h * (nope + ds.valueHeadDim());
        float[] q = new float[(l + r) * qk];
        for (int c = 0; c < l; c++) {
            for (int i = 0; i < nope; i++) {
                q[c * qk + i] = dequantized(kvUp, base + i, c); // W_UKᵀ
            }
        }
        int[] order = LatentAttentionStep.ropeOrder(r, ds.ropeInterleave());
        for (int j = 0; j < r; j++) {
            q[(l + j) * qk + nope + order[j]] = 1f; // P
        }
        return q;
    }

    private static float[] valueValues(Tensor kvUp, DeepSeekConfig ds, int h) {
        int l = ds.kvLoraRank();
        int lr = ds.latentWidth();
        int nope = ds.nopeHeadDim();
        int v = ds.valueHeadDim();
        long base = (long) h * (nope + v) + nope;
        float[] o = new float[v * lr];
        for (int d = 0; d < v; d++) {
            for (int c = 0; c < l; c++) {
                o[d * lr + c] = dequantized(kvUp, base + d, c); // W_UV
            }
        }
        return o;
    }

    private Tensor encode(float[] values, DType dtype, String name, long rows, long cols) {
        MemorySegment m = arena.allocate(values.length * (long) dtype.byteSize(), 64);
        for (int i = 0; i < values.length; i++) {
            switch (dtype) {
                case F32 -> m.set(FLOAT, 4L * i, values[i]);
                // Exact: every value came from a weight of this very dtype, or is 0 or 1.
                case BF16 -> m.set(SHORT, 2L * i, FloatFormats.floatToBf16(values[i]));
                case F16 -> m.set(SHORT, 2L * i, FloatFormats.floatToF16(values[i]));
                default -> throw new IllegalArgumentException("absorbed matrix of dtype " + dtype);
            }
        }
        return new Tensor(name, dtype, new long[] {rows, cols}, m);
    }

    /** query[h] in FP8: W_UK's codes transposed block by block, each block keeping its scale. */
    private Tensor fp8Query(Tensor kvUp, DeepSeekConfig ds, int h, String prefix) {
        int l = ds.kvLoraRank();
        int r = ds.ropeHeadDim();
        int nope = ds.nopeHeadDim();
        int qk = ds.queryHeadDim();
        int b = kvUp.blockScales().blockRows();
        long base = (long) h * (nope + ds.valueHeadDim());
        MemorySegment codes = arena.allocate((long) (l + r) * qk, 64);
        for (int c = 0; c < l; c++) {
            for (int i = 0; i < nope; i++) {
                codes.set(ValueLayout.JAVA_BYTE, (long) c * qk + i, code(kvUp, base + i, c));
            }
        }
        int[] order = LatentAttentionStep.ropeOrder(r, ds.ropeInterleave());
        for (int j = 0; j < r; j++) {
            codes.set(ValueLayout.JAVA_BYTE, (long) (l + j) * qk + nope + order[j], one(kvUp.dtype()));
        }
        long[] shape = BlockScales.expectedShape(l + r, qk, b, b);
        float[] scales = ones(shape);
        for (int bi = 0; bi < l / b; bi++) {
            for (int bj = 0; bj < nope / b; bj++) {
                scales[(int) (bi * shape[1] + bj)] = kvUp.blockScales().scale(base / b + bj, bi);
            }
        }
        return withScales(prefix + "absorbed_query." + h, kvUp.dtype(), l + r, qk, codes, shape, scales, b);
    }

    /** value[h] in FP8: W_UV's rows as they are, with their blocks' scales. */
    private Tensor fp8Value(Tensor kvUp, DeepSeekConfig ds, int h, String prefix) {
        int l = ds.kvLoraRank();
        int lr = ds.latentWidth();
        int nope = ds.nopeHeadDim();
        int v = ds.valueHeadDim();
        int b = kvUp.blockScales().blockRows();
        long base = (long) h * (nope + v) + nope;
        MemorySegment codes = arena.allocate((long) v * lr, 64);
        for (int d = 0; d < v; d++) {
            MemorySegment.copy(kvUp.data(), (base + d) * l, codes, (long) d * lr, l);
        }
        long[] shape = BlockScales.expectedShape(v, lr, b, b);
        float[] scales = ones(shape);
        for (int bi = 0; bi < v / b; bi++) {
            for (int bj = 0; bj < l / b; bj++) {
                scales[(int) (bi * shape[1] + bj)] = kvUp.blockScales().scale(base / b + bi, bj);
            }
        }
        return withScales(prefix + "absorbed_value." + h, kvUp.dtype(), v, lr, codes, shape, scales, b);
    }

    private Tensor withScales(String name, DType dtype, long rows, long cols, MemorySegment codes, long[] scaleShape,
                              float[] scaleValues, int block) {
        MemorySegment s = arena.allocate(scaleValues.length * 4L, 64);
        MemorySegment.copy(scaleValues, 0, s, FLOAT, 0, scaleValues.length);
        Tensor scales = new Tensor(name + "_scale_inv", DType.F32, scaleShape, s);
        return new Tensor(name, dtype, new long[] {rows, cols}, codes)
                .withBlockScales(new BlockScales(scales, block, block));
    }

    private static byte code(Tensor w, long row, long col) {
        return w.data().get(ValueLayout.JAVA_BYTE, row * w.rowLength() + col);
    }

    /** The code of 1.0: E4M3 0 0111 000, E5M2 0 01111 00. */
    private static byte one(DType dtype) {
        return dtype == DType.F8_E4M3 ? (byte) 0x38 : (byte) 0x3C;
    }

    private static float[] ones(long[] shape) {
        float[] values = new float[(int) (shape[0] * shape[1])];
        java.util.Arrays.fill(values, 1f);
        return values;
    }

    private static float dequantized(Tensor w, long row, long col) {
        float value = FloatFormats.readFloat(w, row * w.rowLength() + col);
        BlockScales scales = w.blockScales();
        return scales == null ? value : value * scales.scale(row / scales.blockRows(), col / scales.blockCols());
    }

    private static long byteSize(Tensor t) {
        return t.byteSize() + (t.blockScales() == null ? 0 : t.blockScales().scales().byteSize());
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    @Override
    public void close() {
        arena.close();
    }
}

package ai.parallax.kernels.simd;

import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The {@link Ops} contract written as plainly as possible: scalar loops, double accumulation, element reads with
 * scalar dtype conversions. It is the independent reference the SIMD kernels are checked against.
 */
final class ReferenceOps implements Ops {
    private static final ValueLayout.OfFloat FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Arena arena = Arena.ofShared();

    /** Element {@code i} of a float tensor as a float: BF16 is the top half of an F32, F16 is IEEE binary16. */
    static float get(Tensor t, long i) {
        MemorySegment m = t.data();
        return switch (t.dtype()) {
            case F32 -> m.get(FLOAT, 4 * i);
            case BF16 -> Float.intBitsToFloat((m.get(SHORT, 2 * i) & 0xFFFF) << 16);
            case F16 -> Float.float16ToFloat(m.get(SHORT, 2 * i));
            case F8_E4M3 -> FloatFormats.f8e4m3ToFloat(m.get(ValueLayout.JAVA_BYTE, i));
            case F8_E5M2 -> FloatFormats.f8e5m2ToFloat(m.get(ValueLayout.JAVA_BYTE, i));
            default -> throw new IllegalArgumentException(t.dtype().toString());
        };
    }

    /** Element {@code (r, c)} of a weight matrix as the value it stands for: stored element times block scale. */
    static float weight(Tensor w, long r, long c) {
        float v = get(w, r * w.rowLength() + c);
        BlockScales s = w.blockScales();
        return s == null ? v : v * s.scale(r / s.blockRows(), c / s.blockCols());
    }

    static void set(Tensor t, long i, double v) {
        t.data().set(FLOAT, 4 * i, (float) v);
    }

    @Override
    public String name() {
        return "reference";
    }

    @Override
    public Tensor allocate(String name, DType dtype, long... shape) {
        return new Tensor(name, dtype, shape, arena.allocate(Tensor.elementCount(shape) * dtype.byteSize(), 64));
    }

    @Override
    public void copyFromHost(float[] src, int srcOffset, Tensor dst) {
        for (long i = 0; i < dst.elementCount(); i++) {
            set(dst, i, src[(int) (srcOffset + i)]);
        }
    }

    @Override
    public void copyToHost(Tensor src, float[] dst, int dstOffset) {
        for (long i = 0; i < src.elementCount(); i++) {
            dst[(int) (dstOffset + i)] = get(src, i);
        }
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        for (long i = 0; i < src.elementCount(); i++) {
            set(dst, i, get(src, i));
        }
    }

    @Override
    public void embedding(Tensor table, int[] ids, Tensor out) {
        long width = table.rowLength();
        for (int t = 0; t < ids.length; t++) {
            for (long j = 0; j < width; j++) {
                set(out, t * width + j, get(table, ids[t] * width + j));
            }
        }
    }

    @Override
    public void matmul(Tensor x, Tensor w, Tensor bias, Tensor out) {
        long k = w.rowLength();
        long n = w.rowCount();
        long tokens = x.rowCount();
        for (long t = 0; t < tokens; t++) {
            for (long r = 0; r < n; r++) {
                double s = bias == null ? 0 : get(bias, r);
                for (long i = 0; i < k; i++) {
                    s += (double) get(x, t * k + i) * weight(w, r, i);
                }
                set(out, t * n + r, s);
            }
        }
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
        long width = weight.elementCount();
        long rows = x.elementCount() / width;
        for (long r = 0; r < rows; r++) {
            double ss = 0;
            for (long i = 0; i < width; i++) {
                double v = get(x, r * width + i);
                ss += v * v;
            }
            double inv = 1 / Math.sqrt(ss / width + eps);
            for (long i = 0; i < width; i++) {
                set(out, r * width + i, get(x, r * width + i) * inv * get(weight, i));
            }
        }
    }

    @Override
    public void rope(Tensor x, int heads, int headDim, int[] positions, Tensor cos, Tensor sin) {
        long half = cos.rowLength();
        for (int t = 0; t < positions.length; t++) {
            for (int h = 0; h < heads; h++) {
                long base = ((long) t * heads + h) * headDim;
                for (long i = 0; i < half; i++) {
                    double c = get(cos, positions[t] * half + i);
                    double s = get(sin, positions[t] * half + i);
                    double a = get(x, base + i);
                    double b = get(x, base + half + i);
                    set(x, base + i, a * c - b * s);
                    set(x, base + half + i, b * c + a * s);
                }
            }
        }
    }

    @Override
    public void attention(Tensor q, Tensor keyCache, Tensor valueCache, int startPos, int heads, int kvHeads,
                          int headDim, float scale, Tensor out) {
        long tokens = q.elementCount() / ((long) heads * headDim);
        long kvWidth = (long) kvHeads * headDim;
        for (long t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int kvHead = h / (heads / kvHeads);
                long qBase = (t * heads + h) * headDim;
                int visible = (int) (startPos + t + 1);
                double[] scores = new double[visible];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = 0; p < visible; p++) {
                    double s = 0;
                    for (int d = 0; d < headDim; d++) {
                        s += (double) get(q, qBase + d) * get(keyCache, p * kvWidth + (long) kvHead * headDim + d);
                    }
                    scores[p] = s * scale;
                    max = Math.max(max, scores[p]);
                }
                double sum = 0;
                for (int p = 0; p < visible; p++) {
                    scores[p] = Math.exp(scores[p] - max);
                    sum += scores[p];
                }
                for (int d = 0; d < headDim; d++) {
                    double o = 0;
                    for (int p = 0; p < visible; p++) {
                        o += scores[p] / sum * get(valueCache, p * kvWidth + (long) kvHead * headDim + d);
                    }
                    set(out, qBase + d, o);
                }
            }
        }
    }

    @Override
    public void pagedAttention(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch, int heads, int kvHeads,
                               int headDim, float scale, Tensor out) {
        long kvWidth = (long) kvHeads * headDim;
        int blockSize = batch.blockSize();
        for (int t = 0; t < batch.tokenCount(); t++) {
            int[] table = batch.blockTable(batch.sequenceOf(t));
            int visible = batch.position(t) + 1;
            for (int h = 0; h < heads; h++) {
                int kvHead = h / (heads / kvHeads);
                long qBase = ((long) t * heads + h) * headDim;
                double[] scores = new double[visible];
                double max = Double.NEGATIVE_INFINITY;
                for (int p = 0; p < visible; p++) {
                    long row = (long) table[p / blockSize] * blockSize + p % blockSize;
                    double s = 0;
                    for (int d = 0; d < headDim; d++) {
                        s += (double) get(q, qBase + d) * get(keyPool, row * kvWidth + (long) kvHead * headDim + d);
                    }
                    scores[p] = s * scale;
                    max = Math.max(max, scores[p]);
                }
                double sum = 0;
                for (int p = 0; p < visible; p++) {
                    scores[p] = Math.exp(scores[p] - max);
                    sum += scores[p];
                }
                for (int d = 0; d < headDim; d++) {
                    double o = 0;
                    for (int p = 0; p < visible; p++) {
                        long row = (long) table[p / blockSize] * blockSize + p % blockSize;
                        o += scores[p] / sum * get(valuePool, row * kvWidth + (long) kvHead * headDim + d);
                    }
                    set(out, qBase + d, o);
                }
            }
        }
    }

    /** The window and sink version: the visible keys are [p − window + 1, p], and the sink joins the softmax. */
    @Override
    public void pagedAttentionWithSinks(Tensor q, Tensor keyPool, Tensor valuePool, BatchLayout batch, int heads,
                                        int kvHeads, int headDim, float scale, int window, Tensor sinks, Tensor out) {
        long kvWidth = (long) kvHeads * headDim;
        int blockSize = batch.blockSize();
        for (int t = 0; t < batch.tokenCount(); t++) {
            int[] table = batch.blockTable(batch.sequenceOf(t));
            int position = batch.position(t);
            int first = window == 0 ? 0 : Math.max(0, position - window + 1);
            for (int h = 0; h < heads; h++) {
                int kvHead = h / (heads / kvHeads);
                long qBase = ((long) t * heads + h) * headDim;
                double[] scores = new double[position + 1];
                double sink = sinks == null ? Double.NEGATIVE_INFINITY : get(sinks, h);
                double max = sink;
                for (int p = first; p <= position; p++) {
                    long row = (long) table[p / blockSize] * blockSize + p % blockSize;
                    double s = 0;
                    for (int d = 0; d < headDim; d++) {
                        s += (double) get(q, qBase + d) * get(keyPool, row * kvWidth + (long) kvHead * headDim + d);
                    }
                    scores[p] = s * scale;
                    max = Math.max(max, scores[p]);
                }
                double sum = Math.exp(sink - max);
                for (int p = first; p <= position; p++) {
                    scores[p] = Math.exp(scores[p] - max);
                    sum += scores[p];
                }
                for (int d = 0; d < headDim; d++) {
                    double o = 0;
                    for (int p = first; p <= position; p++) {
                        long row = (long) table[p / blockSize] * blockSize + p % blockSize;
                        o += scores[p] / sum * get(valuePool, row * kvWidth + (long) kvHead * headDim + d);
                    }
                    set(out, qBase + d, o);
                }
            }
        }
    }

    /** E2M1 magnitudes by code & 7, as the OCP MX specification's table 5 lists them. */
    private static final double[] E2M1_MAGNITUDES = {0, 0.5, 1, 1.5, 2, 3, 4, 6};

    /** MXFP4 read element by element: code = nibble, value = ±table · 2^(scale − 127). */
    @Override
    public void matmulMxfp4(Tensor x, Tensor blocks, Tensor scales, Tensor bias, Tensor out) {
        long n = blocks.rowCount();
        long k = 2 * blocks.rowLength();
        for (long t = 0; t < x.rowCount(); t++) {
            for (long r = 0; r < n; r++) {
                double sum = 0;
                for (long c = 0; c < k; c++) {
                    int packed = blocks.data().get(ValueLayout.JAVA_BYTE, r * (k / 2) + c / 2) & 0xFF;
                    int code = c % 2 == 0 ? packed & 0xF : packed >> 4;
                    double value = (code >= 8 ? -1 : 1) * E2M1_MAGNITUDES[code & 7];
                    int scale = scales.data().get(ValueLayout.JAVA_BYTE, r * (k / 32) + c / 32) & 0xFF;
                    sum += get(x, t * k + c) * value * Math.pow(2, scale - 127);
                }
                set(out, t * n + r, sum + (bias == null ? 0 : get(bias, r)));
            }
        }
    }

    @Override
    public void clampedSwiGlu(Tensor gateUp, float limit, float alpha, Tensor out) {
        long width = out.rowLength();
        for (long r = 0; r < out.rowCount(); r++) {
            for (long i = 0; i < width; i++) {
                double gate = Math.min(get(gateUp, r * 2 * width + 2 * i), limit);
                double up = Math.max(-limit, Math.min(limit, get(gateUp, r * 2 * width + 2 * i + 1)));
                set(out, r * width + i, (up + 1) * gate / (1 + Math.exp(-alpha * gate)));
            }
        }
    }

    @Override
    public void scatterRows(Tensor src, Tensor dst, int[] rows) {
        long width = src.rowLength();
        for (int t = 0; t < rows.length; t++) {
            for (long i = 0; i < width; i++) {
                set(dst, rows[t] * width + i, get(src, t * width + i));
            }
        }
    }

    @Override
    public void gatherRows(Tensor src, int[] rows, int offset, int count, Tensor dst) {
        long width = src.rowLength();
        for (int i = 0; i < count; i++) {
            for (long j = 0; j < width; j++) {
                set(dst, i * width + j, get(src, rows[offset + i] * width + j));
            }
        }
    }

    @Override
    public void gatherRows(Tensor src, int[] rows, Tensor dst) {
        long width = src.rowLength();
        for (int r = 0; r < rows.length; r++) {
            for (long i = 0; i < width; i++) {
                set(dst, r * width + i, get(src, rows[r] * width + i));
            }
        }
    }

    @Override
    public void scatterAddRows(Tensor src, int[] rows, float[] weights, int offset, int count, Tensor dst) {
        long width = src.rowLength();
        for (int i = 0; i < count; i++) {
            long d = rows[offset + i] * width;
            for (long j = 0; j < width; j++) {
                set(dst, d + j, get(dst, d + j) + (double) weights[offset + i] * get(src, i * width + j));
            }
        }
    }

    @Override
    public void add(Tensor x, Tensor y) {
        for (long i = 0; i < x.elementCount(); i++) {
            set(x, i, (double) get(x, i) + get(y, i));
        }
    }

    @Override
    public void siluMul(Tensor gate, Tensor up, Tensor out) {
        for (long i = 0; i < gate.elementCount(); i++) {
            double g = get(gate, i);
            set(out, i, g / (1 + Math.exp(-g)) * get(up, i));
        }
    }

    @Override
    public void softmax(Tensor x) {
        long width = x.rowLength();
        for (long r = 0; r < x.rowCount(); r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (long i = 0; i < width; i++) {
                max = Math.max(max, get(x, r * width + i));
            }
            double sum = 0;
            for (long i = 0; i < width; i++) {
                sum += Math.exp(get(x, r * width + i) - max);
            }
            for (long i = 0; i < width; i++) {
                set(x, r * width + i, Math.exp(get(x, r * width + i) - max) / sum);
            }
        }
    }

    @Override
    public int argmax(Tensor x, int row) {
        long width = x.rowLength();
        int best = 0;
        for (int i = 1; i < width; i++) {
            if (get(x, row * width + i) > get(x, row * width + best)) {
                best = i;
            }
        }
        return best;
    }

    @Override
    public void close() {
        arena.close();
    }
}

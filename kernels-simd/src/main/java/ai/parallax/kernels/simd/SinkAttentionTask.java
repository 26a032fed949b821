package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.ops.BatchLayout;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * gpt-oss attention over a paged KV pool ({@link ai.parallax.tensors.ops.Ops#pagedAttentionWithSinks}), split over
 * (token, head) pairs: a query at position p reads only the keys of its window {@code [p − window + 1, p]} (all of
 * {@code [0, p]} when the window is 0), and the head's sink logit joins the softmax denominator.
 *
 * <p>Positions are mapped to pool rows through the sequence's block table one block-run at a time, so a window that
 * starts inside a block, or a ring whose table repeats, costs nothing extra: rows within a run are contiguous.
 */
final class SinkAttentionTask implements WorkerPool.ParallelTask {
    private final float[][] weights;
    private final float[][] laneScratch;
    private MemorySegment q;
    private MemorySegment keys;
    private MemorySegment values;
    private MemorySegment sinks;
    private DType sinkType;
    private MemorySegment out;
    private BatchLayout batch;
    private int heads;
    private int kvHeads;
    private int headDim;
    private float scale;
    private int window;

    SinkAttentionTask(int threads) {
        weights = new float[threads][256];
        laneScratch = new float[threads][];
        for (int i = 0; i < threads; i++) {
            laneScratch[i] = LaneSums.scratch();
        }
    }

    void set(MemorySegment q, MemorySegment keys, MemorySegment values, MemorySegment sinks, DType sinkType,
             MemorySegment out, BatchLayout batch, int heads, int kvHeads, int headDim, float scale, int window) {
        this.q = q;
        this.keys = keys;
        this.values = values;
        this.sinks = sinks;
        this.sinkType = sinkType;
        this.out = out;
        this.batch = batch;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.scale = scale;
        this.window = window;
    }

    void clear() {
        set(null, null, null, null, null, null, null, 0, 0, 0, 0f, 0);
    }

    @Override
    public void run(int part, int parts) {
        int units = batch.tokenCount() * heads;
        int from = SimdOps.split(units, part, parts);
        int to = SimdOps.split(units, part + 1, parts);
        int group = heads / kvHeads;
        long kvRowBytes = 4L * kvHeads * headDim;
        int blockSize = batch.blockSize();
        for (int u = from; u < to; u++) {
            int t = u / heads;
            int h = u % heads;
            int[] table = batch.blockTable(batch.sequenceOf(t));
            int position = batch.position(t);
            int first = window > 0 ? Math.max(0, position - window + 1) : 0;
            int visible = position - first + 1;
            float[] p = weights[part];
            if (p.length < visible) {
                p = new float[Math.max(visible, 2 * p.length)];
                weights[part] = p;
            }
            long headBytes = 4L * (h / group) * headDim;
            long qOffset = 4L * ((long) t * heads + h) * headDim;
            for (int pos = first; pos <= position; ) {
                int run = Math.min(blockSize - pos % blockSize, position + 1 - pos);
                long rowBytes = ((long) table[pos / blockSize] * blockSize + pos % blockSize) * kvRowBytes + headBytes;
                scores(qOffset, rowBytes, kvRowBytes, pos - first, run, p, laneScratch[part]);
                pos += run;
            }
            float sink = sinks == null ? Float.NEGATIVE_INFINITY : VectorLoads.scalar(sinkType, sinks, h);
            softmaxWithSink(p, visible, sink);
            weightedValues(p, first, position, table, blockSize, headBytes, kvRowBytes, qOffset);
        }
    }

    /** p[at + i] = scale · q·k for {@code count} contiguous pool rows from {@code rowBytes}. */
    private void scores(long qOffset, long rowBytes, long kvRowBytes, int at, int count, float[] p, float[] lanes) {
        int d = headDim;
        int vectorEnd = d - d % L;
        for (int i = 0; i < count; i++) {
            long kOffset = rowBytes + i * kvRowBytes;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < vectorEnd; j += L) {
                acc = FloatVector.fromMemorySegment(F, q, qOffset + 4L * j, LE)
                        .fma(FloatVector.fromMemorySegment(F, keys, kOffset + 4L * j, LE), acc);
            }
            float s = LaneSums.sum(acc, lanes);
            for (int j = vectorEnd; j < d; j++) {
                s += q.get(FLOAT, qOffset + 4L * j) * keys.get(FLOAT, kOffset + 4L * j);
            }
            p[at + i] = s * scale;
        }
    }

    /**
     * Softmax of the scores with one more column, the sink logit, which takes its share of the denominator and is
     * then dropped. A sink of −∞ (no sinks) is ordinary softmax. The exponentials are scalar {@link Math#exp}: the
     * vector EXP gives results in compiled code that differ in the last bit from its interpreted fallback, and
     * results must not depend on JIT warm-up.
     */
    private static void softmaxWithSink(float[] p, int count, float sink) {
        float max = sink;
        for (int i = 0; i < count; i++) {
            max = Math.max(max, p[i]);
        }
        float sum = 0f;
        for (int i = 0; i < count; i++) {
            float e = (float) Math.exp(p[i] - max);
            p[i] = e;
            sum += e;
        }
        sum += (float) Math.exp(sink - max);
        float inv = 1f / sum;
        for (int i = 0; i < count; i++) {
            p[i] *= inv;
        }
    }

    /** out[d] = Σ p[pos − first] · v[pos, d] over the window, one contiguous run of pool rows at a time. */
    private void weightedValues(float[] p, int first, int position, int[] table, int blockSize, long headBytes,
                                long kvRowBytes, long outOffset) {
        int d = headDim;
        int vectorEnd = d - d % L;
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            for (int pos = first; pos <= position; ) {
                int run = Math.min(blockSize - pos % blockSize, position + 1 - pos);
                long at = ((long) table[pos / blockSize] * blockSize + pos % blockSize) * kvRowBytes + headBytes
                        + 4L * i;
                int w = pos - first;
                int r = 0;
                for (; r + 1 < run; r += 2) {
                    a0 = FloatVector.fromMemorySegment(F, values, at + r * kvRowBytes, LE)
                            .fma(FloatVector.broadcast(F, p[w + r]), a0);
                    a1 = FloatVector.fromMemorySegment(F, values, at + (r + 1) * kvRowBytes, LE)
                            .fma(FloatVector.broadcast(F, p[w + r + 1]), a1);
                }
                if (r < run) {
                    a0 = FloatVector.fromMemorySegment(F, values, at + r * kvRowBytes, LE)
                            .fma(FloatVector.broadcast(F, p[w + r]), a0);
                }
                pos += run;
            }
            a0.add(a1).intoMemorySegment(out, outOffset + 4L * i, LE);
        }
        for (int i = vectorEnd; i < d; i++) {
            float s = 0f;
            for (int pos = first; pos <= position; pos++) {
                long row = (long) table[pos / blockSize] * blockSize + pos % blockSize;
                s += p[pos - first] * values.get(FLOAT, row * kvRowBytes + headBytes + 4L * i);
            }
            out.set(FLOAT, outOffset + 4L * i, s);
        }
    }
}

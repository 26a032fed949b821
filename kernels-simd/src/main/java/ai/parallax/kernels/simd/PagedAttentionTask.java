package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.ops.BatchLayout;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Causal grouped-query attention of a batch of sequences over a paged KV pool, split over (token, key/value head)
 * pairs.
 *
 * <p>Each query walks its own sequence's block table: the keys of positions {@code [0, p]} are read block by block
 * from wherever the table puts them, scored, soft-maxed, and the values are summed with those weights. Within a
 * block the rows are contiguous, so the inner loops are vector dot products and FMA chains.
 *
 * <p>The query heads that share a key/value head (four in Llama 3.2 1B) run together, up to {@link #HEADS} at a
 * time: each key and value vector is loaded once for all of them, not once per query head. With a long context the
 * cache is larger than the caches of the core (at 8k positions one key/value head of one layer is 2 MiB), so this
 * divides the attention's memory traffic by the group size. When there are fewer (token, key/value head) pairs
 * than threads, each query head is a unit of its own, so that every thread has work.
 */
final class PagedAttentionTask implements WorkerPool.ParallelTask {
    /** Query heads scored side by side against one key row. */
    private static final int HEADS = 4;

    /** Per-thread attention weights, {@link #HEADS} rows over the context; grown (rarely) with the context. */
    private final float[][] weights;
    private MemorySegment q;
    private MemorySegment keys;
    private MemorySegment values;
    private MemorySegment out;
    private BatchLayout batch;
    private int heads;
    private int kvHeads;
    private int headDim;
    private float scale;
    private int headsPerUnit;

    PagedAttentionTask(int threads) {
        weights = new float[threads][HEADS * 256];
    }

    void set(MemorySegment q, MemorySegment keys, MemorySegment values, MemorySegment out, BatchLayout batch,
             int heads, int kvHeads, int headDim, float scale) {
        this.q = q;
        this.keys = keys;
        this.values = values;
        this.out = out;
        this.batch = batch;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.scale = scale;
        this.headsPerUnit = heads / Math.max(1, kvHeads);
    }

    /** Work units for {@code threads} threads: one per (token, key/value head), or per query head if too few. */
    int units(int threads) {
        int group = heads / kvHeads;
        headsPerUnit = batch.tokenCount() * kvHeads >= threads ? group : 1;
        return batch.tokenCount() * (heads / headsPerUnit);
    }

    void clear() {
        set(null, null, null, null, null, 0, 0, 0, 0f);
    }

    @Override
    public void run(int part, int parts) {
        int unitsPerToken = heads / headsPerUnit;
        int units = batch.tokenCount() * unitsPerToken;
        int from = SimdOps.split(units, part, parts);
        int to = SimdOps.split(units, part + 1, parts);
        int group = heads / kvHeads;
        long kvRowBytes = 4L * kvHeads * headDim;
        int blockSize = batch.blockSize();
        for (int u = from; u < to; u++) {
            int t = u / unitsPerToken;
            int firstHead = (u % unitsPerToken) * headsPerUnit;
            int[] table = batch.blockTable(batch.sequenceOf(t));
            int visible = batch.position(t) + 1;
            float[] p = weights[part];
            if (p.length < HEADS * visible) {
                p = new float[HEADS * Math.max(visible, p.length / HEADS * 2)];
                weights[part] = p;
            }
            int stride = p.length / HEADS;
            long headBytes = 4L * (firstHead / group) * headDim;
            for (int h0 = firstHead; h0 < firstHead + headsPerUnit; h0 += HEADS) {
                int count = Math.min(HEADS, firstHead + headsPerUnit - h0);
                long q0 = 4L * ((long) t * heads + h0) * headDim;
                long headStep = 4L * headDim;
                // Fewer than four heads: the missing ones repeat the last, and their results are not kept.
                long q1 = q0 + headStep * Math.min(1, count - 1);
                long q2 = q0 + headStep * Math.min(2, count - 1);
                long q3 = q0 + headStep * Math.min(3, count - 1);
                for (int start = 0; start < visible; start += blockSize) {
                    long blockBytes = (long) table[start / blockSize] * blockSize * kvRowBytes + headBytes;
                    scores(q0, q1, q2, q3, blockBytes, kvRowBytes, start, Math.min(blockSize, visible - start), p,
                            stride);
                }
                for (int i = 0; i < count; i++) {
                    softmax(p, i * stride, visible);
                }
                weightedValues(p, stride, count, visible, table, blockSize, headBytes, kvRowBytes, q0);
            }
        }
    }

    /**
     * {@code p[h·stride + first + i] = scale · q_h·k} for four query heads and the {@code count} contiguous rows of
     * one block starting at {@code blockBytes}: each key vector is loaded once for the four.
     */
    private void scores(long q0, long q1, long q2, long q3, long blockBytes, long kvRowBytes, int first, int count,
                        float[] p, int stride) {
        int d = headDim;
        int vectorEnd = d - d % L;
        for (int i = 0; i < count; i++) {
            long kOffset = blockBytes + i * kvRowBytes;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            for (int j = 0; j < vectorEnd; j += L) {
                FloatVector k = FloatVector.fromMemorySegment(F, keys, kOffset + 4L * j, LE);
                a0 = FloatVector.fromMemorySegment(F, q, q0 + 4L * j, LE).fma(k, a0);
                a1 = FloatVector.fromMemorySegment(F, q, q1 + 4L * j, LE).fma(k, a1);
                a2 = FloatVector.fromMemorySegment(F, q, q2 + 4L * j, LE).fma(k, a2);
                a3 = FloatVector.fromMemorySegment(F, q, q3 + 4L * j, LE).fma(k, a3);
            }
            float s0 = a0.reduceLanes(VectorOperators.ADD);
            float s1 = a1.reduceLanes(VectorOperators.ADD);
            float s2 = a2.reduceLanes(VectorOperators.ADD);
            float s3 = a3.reduceLanes(VectorOperators.ADD);
            for (int j = vectorEnd; j < d; j++) {
                float k = keys.get(FLOAT, kOffset + 4L * j);
                s0 += q.get(FLOAT, q0 + 4L * j) * k;
                s1 += q.get(FLOAT, q1 + 4L * j) * k;
                s2 += q.get(FLOAT, q2 + 4L * j) * k;
                s3 += q.get(FLOAT, q3 + 4L * j) * k;
            }
            int at = first + i;
            p[at] = s0 * scale;
            p[stride + at] = s1 * scale;
            p[2 * stride + at] = s2 * scale;
            p[3 * stride + at] = s3 * scale;
        }
    }

    /** Softmax in place over {@code p[offset, offset + count)}. */
    private static void softmax(float[] p, int offset, int count) {
        int end = offset + count;
        int vectorEnd = offset + count - count % L;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = offset; i < end; i++) {
            max = Math.max(max, p[i]);
        }
        FloatVector sumV = FloatVector.zero(F);
        for (int i = offset; i < vectorEnd; i += L) {
            FloatVector e = FloatVector.fromArray(F, p, i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(p, i);
            sumV = sumV.add(e);
        }
        float sum = sumV.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < end; i++) {
            float e = (float) Math.exp(p[i] - max);
            p[i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = offset; i < end; i++) {
            p[i] *= inv;
        }
    }

    /**
     * {@code out_h[d] = Σ_pos p_h[pos] · v[pos, d]} for {@code count} query heads (weights {@code stride} apart,
     * outputs {@code headDim} apart from {@code outOffset}), walking the block table: each value vector is loaded
     * once for all four heads. Missing heads (count below four) accumulate into a copy of the last and are dropped.
     */
    private void weightedValues(float[] p, int stride, int count, int visible, int[] table, int blockSize,
                                long headBytes, long kvRowBytes, long outOffset) {
        int d = headDim;
        int vectorEnd = d - d % L;
        int p1 = stride * Math.min(1, count - 1);
        int p2 = stride * Math.min(2, count - 1);
        int p3 = stride * Math.min(3, count - 1);
        long headStep = 4L * d;
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            for (int start = 0; start < visible; start += blockSize) {
                int rows = Math.min(blockSize, visible - start);
                long at = (long) table[start / blockSize] * blockSize * kvRowBytes + headBytes + 4L * i;
                for (int r = 0; r < rows; r++) {
                    FloatVector v = FloatVector.fromMemorySegment(F, values, at + r * kvRowBytes, LE);
                    int pos = start + r;
                    a0 = v.fma(FloatVector.broadcast(F, p[pos]), a0);
                    a1 = v.fma(FloatVector.broadcast(F, p[p1 + pos]), a1);
                    a2 = v.fma(FloatVector.broadcast(F, p[p2 + pos]), a2);
                    a3 = v.fma(FloatVector.broadcast(F, p[p3 + pos]), a3);
                }
            }
            long o = outOffset + 4L * i;
            a0.intoMemorySegment(out, o, LE);
            if (count > 1) {
                a1.intoMemorySegment(out, o + headStep, LE);
            }
            if (count > 2) {
                a2.intoMemorySegment(out, o + 2 * headStep, LE);
            }
            if (count > 3) {
                a3.intoMemorySegment(out, o + 3 * headStep, LE);
            }
        }
        for (int h = 0; h < count; h++) {
            for (int i = vectorEnd; i < d; i++) {
                float s = 0f;
                for (int pos = 0; pos < visible; pos++) {
                    long row = (long) table[pos / blockSize] * blockSize + pos % blockSize;
                    s += p[h * stride + pos] * values.get(FLOAT, row * kvRowBytes + headBytes + 4L * i);
                }
                out.set(FLOAT, outOffset + h * headStep + 4L * i, s);
            }
        }
    }
}

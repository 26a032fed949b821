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
 * Causal grouped-query attention of a batch of sequences over a paged KV pool, split over (token, head) pairs.
 *
 * <p>Each query walks its own sequence's block table: the keys of positions {@code [0, p]} are read block by block
 * from wherever the table puts them, scored, soft-maxed, and the values are summed with those weights. Within a
 * block the rows are contiguous, so the inner loops are the same vector dot products and FMA chains as for a
 * contiguous cache.
 */
final class PagedAttentionTask implements WorkerPool.ParallelTask {
    /** Per-thread attention weights over the context; grown (rarely) when the context outgrows them. */
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

    PagedAttentionTask(int threads) {
        weights = new float[threads][256];
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
    }

    void clear() {
        set(null, null, null, null, null, 0, 0, 0, 0f);
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
            int visible = batch.position(t) + 1;
            float[] p = weights[part];
            if (p.length < visible) {
                p = new float[Math.max(visible, 2 * p.length)];
                weights[part] = p;
            }
            long headBytes = 4L * (h / group) * headDim;
            long qOffset = 4L * ((long) t * heads + h) * headDim;
            for (int start = 0; start < visible; start += blockSize) {
                long blockBytes = (long) table[start / blockSize] * blockSize * kvRowBytes + headBytes;
                scores(qOffset, blockBytes, kvRowBytes, start, Math.min(blockSize, visible - start), p);
            }
            softmax(p, visible);
            weightedValues(p, visible, table, blockSize, headBytes, kvRowBytes, qOffset);
        }
    }

    /** p[first + i] = scale · q·k for the {@code count} contiguous rows of one block starting at {@code blockBytes}. */
    private void scores(long qOffset, long blockBytes, long kvRowBytes, int first, int count, float[] p) {
        int d = headDim;
        int vectorEnd = d - d % L;
        for (int i = 0; i < count; i++) {
            long kOffset = blockBytes + i * kvRowBytes;
            FloatVector acc = FloatVector.zero(F);
            for (int j = 0; j < vectorEnd; j += L) {
                acc = FloatVector.fromMemorySegment(F, q, qOffset + 4L * j, LE)
                        .fma(FloatVector.fromMemorySegment(F, keys, kOffset + 4L * j, LE), acc);
            }
            float s = acc.reduceLanes(VectorOperators.ADD);
            for (int j = vectorEnd; j < d; j++) {
                s += q.get(FLOAT, qOffset + 4L * j) * keys.get(FLOAT, kOffset + 4L * j);
            }
            p[first + i] = s * scale;
        }
    }

    private static void softmax(float[] p, int count) {
        int vectorEnd = count - count % L;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) {
            max = Math.max(max, p[i]);
        }
        FloatVector sumV = FloatVector.zero(F);
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector e = FloatVector.fromArray(F, p, i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(p, i);
            sumV = sumV.add(e);
        }
        float sum = sumV.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < count; i++) {
            float e = (float) Math.exp(p[i] - max);
            p[i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < count; i++) {
            p[i] *= inv;
        }
    }

    /** out[d] = Σ_pos p[pos] · v[pos, d], walking the block table; two FMA chains run side by side. */
    private void weightedValues(float[] p, int visible, int[] table, int blockSize, long headBytes, long kvRowBytes,
                                long outOffset) {
        int d = headDim;
        int vectorEnd = d - d % L;
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            for (int start = 0; start < visible; start += blockSize) {
                int count = Math.min(blockSize, visible - start);
                long at = (long) table[start / blockSize] * blockSize * kvRowBytes + headBytes + 4L * i;
                int pairEnd = count - count % 2;
                int r = 0;
                for (; r < pairEnd; r += 2) {
                    a0 = FloatVector.fromMemorySegment(F, values, at + r * kvRowBytes, LE)
                            .fma(FloatVector.broadcast(F, p[start + r]), a0);
                    a1 = FloatVector.fromMemorySegment(F, values, at + (r + 1) * kvRowBytes, LE)
                            .fma(FloatVector.broadcast(F, p[start + r + 1]), a1);
                }
                if (r < count) {
                    a0 = FloatVector.fromMemorySegment(F, values, at + r * kvRowBytes, LE)
                            .fma(FloatVector.broadcast(F, p[start + r]), a0);
                }
            }
            a0.add(a1).intoMemorySegment(out, outOffset + 4L * i, LE);
        }
        for (int i = vectorEnd; i < d; i++) {
            float s = 0f;
            for (int pos = 0; pos < visible; pos++) {
                long row = (long) table[pos / blockSize] * blockSize + pos % blockSize;
                s += p[pos] * values.get(FLOAT, row * kvRowBytes + headBytes + 4L * i);
            }
            out.set(FLOAT, outOffset + 4L * i, s);
        }
    }
}

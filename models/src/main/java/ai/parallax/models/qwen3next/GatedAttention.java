package ai.parallax.models.qwen3next;

import ai.parallax.models.KvCache;
import ai.parallax.models.RotaryTables;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * The token mixer of Qwen3-Next's {@code full_attention} layers: grouped-query attention whose q projection is
 * doubled, each head's rows being [query | gate], the gate scaling the attention output through a sigmoid before
 * o_proj:
 *
 * <pre>
 * [q | gate] ← q_proj(x) per head   k ← k_proj(x)   v ← v_proj(x)
 * q, k ← RMSNorm(1 + w) per head → partial rope (first rotary_dim dims of each head)
 * o_proj(attention(q, k, v) · sigmoid(gate))
 * </pre>
 *
 * Splitting q from its gate and applying the gate are done on the host: the backend has no strided-column op.
 *
 * <p>Exponentials use {@link StrictMath}: {@link Math#exp} may differ by an ulp between interpreted and compiled
 * code, and a model split into stages must reproduce the whole model bit for bit.
 */
final class GatedAttention {
    private final Ops ops;
    private final Tensor queryGateProj;
    private final Tensor keyProj;
    private final Tensor valueProj;
    private final Tensor outputProj;
    private final Tensor queryNorm;   // 1 + w, F32
    private final Tensor keyNorm;     // 1 + w, F32
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final float scale;
    private final float eps;
    private final ScratchBuffers.Slot queryGateRows;
    private final ScratchBuffers.Slot queryRows;
    private final ScratchBuffers.Slot keyRows;
    private final ScratchBuffers.Slot valueRows;
    private final ScratchBuffers.Slot attentionRows;
    private float[] queryGate = new float[0];
    private float[] query = new float[0];
    private float[] gate = new float[0];

    GatedAttention(Ops ops, ScratchBuffers scratch, WeightLoader w, String prefix, int hidden, int heads, int kvHeads,
                   int headDim, float eps, ZeroCenteredNorms norms) {
        this.ops = ops;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.eps = eps;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
        long qWidth = (long) heads * headDim;
        long kvWidth = (long) kvHeads * headDim;
        this.queryGateProj = w.require(prefix + "q_proj.weight", 2 * qWidth, hidden);
        this.keyProj = w.require(prefix + "k_proj.weight", kvWidth, hidden);
        this.valueProj = w.require(prefix + "v_proj.weight", kvWidth, hidden);
        this.outputProj = w.require(prefix + "o_proj.weight", hidden, qWidth);
        this.queryNorm = norms.onePlus(w.require(prefix + "q_norm.weight", headDim));
        this.keyNorm = norms.onePlus(w.require(prefix + "k_norm.weight", headDim));
        this.queryGateRows = scratch.slot("attention.queryGate", 2 * qWidth);
        this.queryRows = scratch.slot("attention.query", qWidth);
        this.keyRows = scratch.slot("attention.key", kvWidth);
        this.valueRows = scratch.slot("attention.value", kvWidth);
        this.attentionRows = scratch.slot("attention.out", qWidth);
    }

    /** The mixer's output for the normed hidden states {@code x} of the batch into {@code out}; extends the cache. */
    void forward(Tensor x, BatchLayout batch, KvCache cache, int layer, RotaryTables rotary, Tensor out) {
        int count = (int) x.rowCount();
        int qWidth = heads * headDim;
        Tensor qg = queryGateRows.rows(count);
        Tensor q = queryRows.rows(count);
        Tensor k = keyRows.rows(count);
        Tensor v = valueRows.rows(count);
        Tensor attention = attentionRows.rows(count);
        ops.matmul(x, queryGateProj, null, qg);
        ops.matmul(x, keyProj, null, k);
        ops.matmul(x, valueProj, null, v);

        queryGate = grow(queryGate, count * 2 * qWidth);
        query = grow(query, count * qWidth);
        gate = grow(gate, count * qWidth);
        ops.copyToHost(qg, queryGate, 0);
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < heads; h++) {
                int src = t * 2 * qWidth + h * 2 * headDim;
                int dst = t * qWidth + h * headDim;
                System.arraycopy(queryGate, src, query, dst, headDim);
                System.arraycopy(queryGate, src + headDim, gate, dst, headDim);
            }
        }
        ops.copyFromHost(query, 0, q);

        ops.rmsNorm(q, queryNorm, eps, q);
        ops.rmsNorm(k, keyNorm, eps, k);
        int[] positions = batch.positions();
        ops.rope(q, heads, headDim, positions, rotary.cos(), rotary.sin());
        ops.rope(k, kvHeads, headDim, positions, rotary.cos(), rotary.sin());
        int[] slots = batch.slots();
        ops.scatterRows(k, cache.keys(layer), slots);
        ops.scatterRows(v, cache.values(layer), slots);
        ops.pagedAttention(q, cache.keys(layer), cache.values(layer), batch, heads, kvHeads, headDim, scale,
                attention);

        ops.copyToHost(attention, query, 0);
        for (int i = 0; i < count * qWidth; i++) {
            query[i] *= 1f / (1f + (float) StrictMath.exp(-gate[i]));
        }
        ops.copyFromHost(query, 0, attention);
        ops.matmul(attention, outputProj, null, out);
    }

    private static float[] grow(float[] a, int length) {
        return a.length >= length ? a : new float[Math.max(length, a.length * 2)];
    }
}

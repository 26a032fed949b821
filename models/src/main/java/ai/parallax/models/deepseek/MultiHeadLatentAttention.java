package ai.parallax.models.deepseek;

import ai.parallax.models.RotaryTables;
import ai.parallax.models.WeightLoader;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * DeepSeek's multi-head latent attention (DeepSeek-V2, arXiv:2405.04434, section 2.1), in the absorbed form:
 *
 * <pre>
 * q      = q_b_proj(norm(q_a_proj(x)))  (or q_proj(x))          per head [q_nope, q_rope]
 * kv     = kv_a_proj_with_mqa(x)                                = [c (kv_lora_rank), k_rope (one head)]
 * cache ← [norm(c), rope(k_rope)]                               the latent, not per-head keys and values
 * q'     = [W_UKᵀ q_nope, rope(q_rope)]                          per head; W_UK from kv_b_proj
 * o      = softmax(scale · q'·cacheᵀ) · cache                    one shared "head" of width L + R for all heads
 * out    = o_proj(W_UV · o[latent part])                          per head; W_UV from kv_b_proj
 * </pre>
 *
 * The naive form decompresses every cached position into full keys {@code [W_UK c, k_rope]} and values
 * {@code W_UV c}; by associativity both give the same scores and outputs, and the absorbed one reads
 * {@code kv_lora_rank + qk_rope_head_dim} floats per cached position instead of {@code heads·(qk + v)}.
 *
 * <p>The per-head products with W_UK and W_UV run, all heads in one {@link Ops#matmuls} call, against the
 * matrices {@link AbsorbedProjections} builds at load time from {@code kv_b_proj}, in its own dtype.
 */
final class MultiHeadLatentAttention {
    private final Ops ops;
    private final DeepSeekConfig ds;
    private final int heads;
    private final float eps;
    private final float scale;
    private final Tensor queryDown;      // q_a_proj, null with q_lora_rank null
    private final Tensor queryDownNorm;  // q_a_layernorm
    private final Tensor queryUp;        // q_b_proj, or q_proj
    private final Tensor kvDown;         // kv_a_proj_with_mqa
    private final Tensor kvDownNorm;     // kv_a_layernorm
    private final Tensor outputProj;     // o_proj
    private final AbsorbedProjections absorbed;

    MultiHeadLatentAttention(Ops ops, WeightLoader w, String prefix, DeepSeekConfig ds, int heads, long hidden,
                             float eps) {
        this.ops = ops;
        this.ds = ds;
        this.heads = heads;
        this.eps = eps;
        this.scale = (float) ds.softmaxScale();
        long qk = ds.queryHeadDim();
        long l = ds.kvLoraRank();
        long r = ds.ropeHeadDim();
        long v = ds.valueHeadDim();
        if (ds.queryLoraRank() > 0) {
            queryDown = w.require(prefix + "q_a_proj.weight", ds.queryLoraRank(), hidden);
            queryDownNorm = w.require(prefix + "q_a_layernorm.weight", ds.queryLoraRank());
            queryUp = w.require(prefix + "q_b_proj.weight", heads * qk, ds.queryLoraRank());
        } else {
            queryDown = null;
            queryDownNorm = null;
            queryUp = w.require(prefix + "q_proj.weight", heads * qk, hidden);
        }
        kvDown = w.require(prefix + "kv_a_proj_with_mqa.weight", l + r, hidden);
        kvDownNorm = w.require(prefix + "kv_a_layernorm.weight", l);
        Tensor kvUp = w.require(prefix + "kv_b_proj.weight", heads * (ds.nopeHeadDim() + v), l);
        outputProj = w.require(prefix + "o_proj.weight", hidden, heads * v);
        absorbed = new AbsorbedProjections(kvUp, ds, heads, prefix);
    }

    /**
     * {@code residual += attention(x)} for the batch {@code batch}: writes the new positions' latents into
     * {@code cache} (this layer's pool, {@code [blocks·blockSize, L+R]}) and attends over it. {@code projected} is a
     * {@code [T, hidden]} buffer for the output projection.
     */
    void addTo(Tensor x, Tensor residual, Tensor projected, BatchLayout batch, Tensor cache, RotaryTables rotary,
               LatentAttentionStep s) {
        int count = s.count;
        int l = ds.kvLoraRank();
        int r = ds.ropeHeadDim();
        int lr = l + r;

        // Queries, through the compressed query when there is one.
        if (queryDown != null) {
            ops.matmul(x, queryDown, null, s.compressedQuery);
            ops.rmsNorm(s.compressedQuery, queryDownNorm, eps, s.compressedQuery);
            ops.matmul(s.compressedQuery, queryUp, null, s.query);
        } else {
            ops.matmul(x, queryUp, null, s.query);
        }

        // The compressed key/value: norm the latent, rotate the shared rotary key, cache [latent, rope key].
        ops.matmul(x, kvDown, null, s.kv);
        ops.gatherRows(s.kvElements, s.latentFromKv, 0, count * l, s.latentElements);
        ops.gatherRows(s.kvElements, s.ropeKeyFromKv, 0, count * r, s.ropeKeyElements);
        ops.rmsNorm(s.latent, kvDownNorm, eps, s.latent);
        ops.rope(s.ropeKey, 1, r, batch.positions(), rotary.cos(), rotary.sin());
        ops.gatherRows(s.parts, s.cacheRowFromParts, 0, count * lr, s.cacheRows);
        ops.scatterRows(s.cacheRowMatrix, cache, batch.slots());

        // Absorb W_UK into each head's query: q' = [W_UKᵀ q_nope, rope part in rotate-half order], then rotate
        // the rope parts, which the view shifted by L floats puts at the start of each of its heads.
        if (s.transposes) {
            ops.gatherRows(s.queryRowsByToken, s.headMajor, 0, count * heads, s.queryByHead);
        }
        ops.matmuls(s.queryHeadRows, absorbed.query, s.absorbedHeadRows);
        if (s.transposes) {
            ops.gatherRows(s.absorbedByHead, s.tokenMajor, 0, count * heads, s.absorbedRowsByToken);
        }
        ops.rope(s.absorbedRope, heads, lr, batch.positions(), rotary.cos(), rotary.sin());

        // Every head attends over the same latent rows: multi-query attention of head width L + R, where the
        // values are the same rows (their rotary part yields columns that W_UV's zero block then ignores).
        ops.pagedAttention(s.absorbed, cache, cache, batch, heads, 1, lr, scale, s.attention);

        // Expand each head's attended latent with W_UV, then project out.
        if (s.transposes) {
            ops.gatherRows(s.attentionRowsByToken, s.headMajor, 0, count * heads, s.attentionByHead);
        }
        ops.matmuls(s.attentionHeadRows, absorbed.value, s.valueHeadRows);
        if (s.transposes) {
            ops.gatherRows(s.valueByHead, s.tokenMajor, 0, count * heads, s.valueRowsByToken);
        }
        ops.matmul(s.values, outputProj, null, projected);
        ops.add(residual, projected);
    }

    /** Bytes of the absorbed matrices built at load time (the checkpoint's own weights are the loader's). */
    long absorbedBytes() {
        return absorbed.bytes;
    }

    void close() {
        absorbed.close();
    }
}

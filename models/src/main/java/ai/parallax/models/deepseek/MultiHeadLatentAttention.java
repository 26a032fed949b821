package ai.parallax.models.deepseek;

import ai.parallax.models.RotaryTables;
import ai.parallax.models.WeightLoader;
import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * DeepSeek's multi-head latent attention (DeepSeek-V2, arXiv:2405.04434, section 2.1), in the absorbed form:
 *
 * <pre>
 * q      = q_b_proj(norm(q_a_proj(x)))  (or q_proj(x))          per head [q_nope, q_rope]
 * kv     = kv_a_proj_with_mqa(x)                                = [c (kv_lora_rank), k_rope (one head)]
 * cache ← [rope(k_rope), norm(c)]                               the latent, not per-head keys and values
 * q'     = [rope(q_rope), W_UKᵀ q_nope]                          per head; W_UK from kv_b_proj
 * o      = softmax(scale · q'·cacheᵀ) · cache                    one shared "head" of width R + L for all heads
 * out    = o_proj(W_UV · o[latent part])                          per head; W_UV from kv_b_proj
 * </pre>
 *
 * The naive form decompresses every cached position into full keys {@code [W_UK c, k_rope]} and values
 * {@code W_UV c}; by associativity both give the same scores and outputs, and the absorbed one reads
 * {@code kv_lora_rank + qk_rope_head_dim} floats per cached position instead of {@code heads·(qk + v)}.
 *
 * <p>The per-head products with W_UK and W_UV run against matrices built at load time from {@code kv_b_proj}:
 * {@code absorbedQuery[h]} is {@code [R+L, nope+R]} = {@code [[0, P], [W_UKᵀ, 0]]}, where P takes the rotary part
 * from DeepSeek's interleaved order to rotate-half order, and {@code absorbedValue[h]} is {@code [v, R+L]} =
 * {@code [0, W_UV]}. They are F32 (an FP8 weight times its block scale needs float's mantissa), which costs
 * {@code heads · ((R+L)(nope+R) + v(R+L)) · 4} bytes per layer: about 95 MB for DeepSeek-V3, under 1% of its MoE
 * layer.
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
    private final Tensor[] absorbedQuery;
    private final Tensor[] absorbedValue;
    private final long absorbedBytes;

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
        absorbedQuery = new Tensor[heads];
        absorbedValue = new Tensor[heads];
        buildAbsorbed(kvUp, prefix);
        absorbedBytes = absorbedBytesPerLayer(ds, heads);
    }

    /** Bytes of the absorbed W_UK and W_UV matrices one layer builds at load time. */
    static long absorbedBytesPerLayer(DeepSeekConfig ds, int heads) {
        long lr = ds.latentWidth();
        return (long) heads * (lr * ds.queryHeadDim() + ds.valueHeadDim() * lr) * Float.BYTES;
    }

    /** Splits kv_b_proj (per head: nope rows of W_UK, then v rows of W_UV, each [.., L]) into the absorbed forms. */
    private void buildAbsorbed(Tensor kvUp, String prefix) {
        int l = ds.kvLoraRank();
        int r = ds.ropeHeadDim();
        int nope = ds.nopeHeadDim();
        int qk = ds.queryHeadDim();
        int v = ds.valueHeadDim();
        int lr = l + r;
        int[] ropeOrder = LatentAttentionStep.ropeOrder(r, ds.ropeInterleave());
        float[] q = new float[lr * qk];
        float[] o = new float[v * lr];
        for (int h = 0; h < heads; h++) {
            java.util.Arrays.fill(q, 0f);
            java.util.Arrays.fill(o, 0f);
            long base = (long) h * (nope + v);
            for (int j = 0; j < r; j++) {
                q[j * qk + nope + ropeOrder[j]] = 1f; // the permutation P: rotary part passes through, reordered
            }
            for (int i = 0; i < nope; i++) {
                for (int c = 0; c < l; c++) {
                    q[(r + c) * qk + i] = dequantized(kvUp, base + i, c); // W_UKᵀ
                }
            }
            for (int d = 0; d < v; d++) {
                for (int c = 0; c < l; c++) {
                    o[d * lr + r + c] = dequantized(kvUp, base + nope + d, c);
                }
            }
            absorbedQuery[h] = ops.allocate(prefix + "absorbed_query." + h, lr, qk);
            absorbedValue[h] = ops.allocate(prefix + "absorbed_value." + h, v, lr);
            ops.copyFromHost(q, 0, absorbedQuery[h]);
            ops.copyFromHost(o, 0, absorbedValue[h]);
        }
    }

    private static float dequantized(Tensor w, long row, long col) {
        float value = FloatFormats.readFloat(w, row * w.rowLength() + col);
        BlockScales scales = w.blockScales();
        return scales == null ? value : value * scales.scale(row / scales.blockRows(), col / scales.blockCols());
    }

    /**
     * {@code residual += attention(x)} for the batch {@code batch}: writes the new positions' latents into
     * {@code cache} (this layer's pool, {@code [blocks·blockSize, R+L]}) and attends over it. {@code projected} is a
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

        // The compressed key/value: norm the latent, rotate the shared rotary key, cache [rope key, latent].
        ops.matmul(x, kvDown, null, s.kv);
        ops.gatherRows(s.kvElements, s.latentFromKv, 0, count * l, s.latentElements);
        ops.gatherRows(s.kvElements, s.ropeKeyFromKv, 0, count * r, s.ropeKeyElements);
        ops.rmsNorm(s.latent, kvDownNorm, eps, s.latent);
        ops.rope(s.ropeKey, 1, r, batch.positions(), rotary.cos(), rotary.sin());
        ops.gatherRows(s.parts, s.cacheRowFromParts, 0, count * lr, s.cacheRows);
        ops.scatterRows(s.cacheRowMatrix, cache, batch.slots());

        // Absorb W_UK into each head's query: q' = [rope part in rotate-half order, W_UKᵀ q_nope], then rotate.
        if (s.transposes) {
            ops.gatherRows(s.queryRowsByToken, s.headMajor, 0, count * heads, s.queryByHead);
        }
        ops.matmuls(s.queryHeadRows, absorbedQuery, s.absorbedHeadRows);
        if (s.transposes) {
            ops.gatherRows(s.absorbedByHead, s.tokenMajor, 0, count * heads, s.absorbedRowsByToken);
        }
        ops.rope(s.absorbed, heads, lr, batch.positions(), rotary.cos(), rotary.sin());

        // Every head attends over the same latent rows: multi-query attention of head width R + L, where the
        // values are the same rows (their rotary part yields columns W_UV's zero block then ignores).
        ops.pagedAttention(s.absorbed, cache, cache, batch, heads, 1, lr, scale, s.attention);

        // Expand each head's attended latent with W_UV, then project out.
        if (s.transposes) {
            ops.gatherRows(s.attentionRowsByToken, s.headMajor, 0, count * heads, s.attentionByHead);
        }
        ops.matmuls(s.attentionHeadRows, absorbedValue, s.valueHeadRows);
        if (s.transposes) {
            ops.gatherRows(s.valueByHead, s.tokenMajor, 0, count * heads, s.valueRowsByToken);
        }
        ops.matmul(s.values, outputProj, null, projected);
        ops.add(residual, projected);
    }

    /** Bytes of the absorbed matrices built at load time (the checkpoint's own weights are the loader's). */
    long absorbedBytes() {
        return absorbedBytes;
    }

    void close() {
        for (int h = 0; h < heads; h++) {
            ops.free(absorbedQuery[h]);
            ops.free(absorbedValue[h]);
        }
    }
}

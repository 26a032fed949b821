package ai.parallax.models.deepseek;

import ai.parallax.models.ScratchBuffers;
import ai.parallax.tensors.Tensor;

/**
 * The activation buffers and index maps of one multi-head latent attention step of {@code count} tokens, shared by
 * every layer of the stage (they run one after another). Built once per token count: a decode loop reuses it and
 * allocates nothing.
 *
 * <p>The index maps move values between layouts with {@code gatherRows} over rows of one float, or over whole
 * heads:
 * <ul>
 *   <li>{@link #latentFromKv} and {@link #ropeKeyFromKv} split {@code kv_a_proj_with_mqa}'s output
 *       {@code [latent (L), rope key (R, interleaved)]} into a latent block {@code [T, L]} and a rotary-key block
 *       {@code [T, R]} in rotate-half order, so each can be normed or rotated in place;</li>
 *   <li>{@link #cacheRowFromParts} joins them into the cache row {@code [latent (L), rope key (R)]};</li>
 *   <li>{@link #headMajor} and {@link #tokenMajor} transpose {@code [T, heads]} rows of one head each to
 *       {@code [heads, T]} and back, so that each head's rows are contiguous for its own matrix product.</li>
 * </ul>
 */
final class LatentAttentionStep {
    final int count;
    /** Whether head-major and token-major layouts differ; with one token they are the same bytes. */
    final boolean transposes;
    final Tensor compressedQuery; // [T, q_lora_rank], null without one
    final Tensor query;           // [T, heads·(nope+R)]
    final Tensor queryByHead;     // [heads·T, nope+R]
    final Tensor kv;              // [T, L+R] as projected
    final Tensor kvElements;      // the same, one float a row
    final Tensor parts;           // [T·(L+R), 1]: latent block, then rope-key block
    final Tensor latent;          // [T, L]: a view of parts
    final Tensor ropeKey;         // [T, R]: a view of parts
    final Tensor cacheRows;       // [T·(L+R), 1], read as [T, L+R]
    final Tensor cacheRowMatrix;  // [T, L+R]
    final Tensor absorbedByHead;  // [heads·T, L+R]
    final Tensor absorbed;        // [T, heads·(L+R)], viewed as [T·heads, L+R] for the transposes
    final Tensor absorbedRope;    // absorbed seen from element L on: each "head" of it starts with a rope part
    final Tensor attention;       // [T, heads·(L+R)]
    final Tensor attentionByHead; // [heads·T, L+R]
    final Tensor valueByHead;     // [heads·T, v]
    final Tensor values;          // [T, heads·v]
    final Tensor latentElements;        // latent, one float a row
    final Tensor ropeKeyElements;       // ropeKey, one float a row
    final Tensor queryRowsByToken;      // query as [T·heads, nope+R]
    final Tensor absorbedRowsByToken;   // absorbed as [T·heads, L+R]
    final Tensor attentionRowsByToken;  // attention as [T·heads, L+R]
    final Tensor valueRowsByToken;      // values as [T·heads, v]
    final Tensor[] queryHeadRows;     // per head: rows of queryByHead
    final Tensor[] absorbedHeadRows;  // per head: rows of absorbedByHead
    final Tensor[] attentionHeadRows; // per head: rows of attentionByHead
    final Tensor[] valueHeadRows;     // per head: rows of valueByHead
    final int[] latentFromKv;
    final int[] ropeKeyFromKv;
    final int[] cacheRowFromParts;
    final int[] headMajor;
    final int[] tokenMajor;

    LatentAttentionStep(ScratchBuffers scratch, DeepSeekConfig ds, int heads, int count) {
        this.count = count;
        this.transposes = count > 1;
        int l = ds.kvLoraRank();
        int r = ds.ropeHeadDim();
        int qk = ds.queryHeadDim();
        int v = ds.valueHeadDim();
        int lr = l + r;
        compressedQuery = ds.queryLoraRank() > 0 ? scratch.slot("mla.qa", ds.queryLoraRank()).rows(count) : null;
        query = scratch.slot("mla.q", (long) heads * qk).rows(count);
        queryByHead = transposes
                ? scratch.slot("mla.qHeads", (long) heads * qk).rows(count).reshape((long) heads * count, qk)
                : query.reshape(heads, qk);
        kv = scratch.slot("mla.kv", lr).rows(count);
        kvElements = kv.reshape((long) count * lr, 1);
        parts = scratch.slot("mla.parts", lr).rows(count).reshape((long) count * lr, 1);
        latent = parts.rows(0, (long) count * l).reshape(count, l);
        ropeKey = parts.rows((long) count * l, (long) count * r).reshape(count, r);
        cacheRowMatrix = scratch.slot("mla.cacheRows", lr).rows(count);
        cacheRows = cacheRowMatrix.reshape((long) count * lr, 1);
        // One spare row, so the view shifted by L floats (which puts each head's rope part first, where the rope
        // kernel rotates) stays inside the buffer; rope writes only the rotary part, never the spare floats.
        Tensor padded = scratch.slot("mla.abs", (long) heads * lr).rows(count + 1);
        absorbed = padded.rows(0, count);
        absorbedRope = padded.reshape((long) (count + 1) * heads * lr, 1).rows(l, (long) count * heads * lr)
                .reshape(count, (long) heads * lr);
        attention = scratch.slot("mla.attn", (long) heads * lr).rows(count);
        values = scratch.slot("mla.v", (long) heads * v).rows(count);
        if (transposes) {
            absorbedByHead = scratch.slot("mla.absHeads", (long) heads * lr).rows(count)
                    .reshape((long) heads * count, lr);
            attentionByHead = absorbedByHead; // free again once the absorbed queries are transposed back
            valueByHead = scratch.slot("mla.vHeads", (long) heads * v).rows(count).reshape((long) heads * count, v);
        } else {
            absorbedByHead = absorbed.reshape(heads, lr);
            attentionByHead = attention.reshape(heads, lr);
            valueByHead = values.reshape(heads, v);
        }

        latentElements = latent.reshape((long) count * l, 1);
        ropeKeyElements = ropeKey.reshape((long) count * r, 1);
        queryRowsByToken = query.reshape((long) count * heads, qk);
        absorbedRowsByToken = absorbed.reshape((long) count * heads, lr);
        attentionRowsByToken = attention.reshape((long) count * heads, lr);
        valueRowsByToken = values.reshape((long) count * heads, v);

        queryHeadRows = new Tensor[heads];
        absorbedHeadRows = new Tensor[heads];
        attentionHeadRows = new Tensor[heads];
        valueHeadRows = new Tensor[heads];
        for (int h = 0; h < heads; h++) {
            queryHeadRows[h] = queryByHead.rows((long) h * count, count);
            absorbedHeadRows[h] = absorbedByHead.rows((long) h * count, count);
            attentionHeadRows[h] = attentionByHead.rows((long) h * count, count);
            valueHeadRows[h] = valueByHead.rows((long) h * count, count);
        }

        int[] ropeOrder = ropeOrder(r, ds.ropeInterleave());
        latentFromKv = new int[count * l];
        ropeKeyFromKv = new int[count * r];
        cacheRowFromParts = new int[count * lr];
        for (int t = 0; t < count; t++) {
            for (int c = 0; c < l; c++) {
                latentFromKv[t * l + c] = t * lr + c;
                cacheRowFromParts[t * lr + c] = t * l + c;
            }
            for (int j = 0; j < r; j++) {
                ropeKeyFromKv[t * r + j] = t * lr + l + ropeOrder[j];
                cacheRowFromParts[t * lr + l + j] = count * l + t * r + j;
            }
        }
        headMajor = new int[heads * count];
        tokenMajor = new int[heads * count];
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < heads; h++) {
                headMajor[h * count + t] = t * heads + h;
                tokenMajor[t * heads + h] = h * count + t;
            }
        }
    }

    /**
     * Which stored rotary dimension becomes dimension j of the rotate-half layout. DeepSeek stores the rotary part
     * as interleaved pairs (x0,x1),(x2,x3)…; transformers reorders it to x0,x2,…,x1,x3,… before rotate_half, and so
     * do we. Queries and keys get the same order, so their dot products are those of the interleaved rotation.
     */
    static int[] ropeOrder(int r, boolean interleaved) {
        int[] order = new int[r];
        for (int j = 0; j < r; j++) {
            order[j] = !interleaved ? j : j < r / 2 ? 2 * j : 2 * (j - r / 2) + 1;
        }
        return order;
    }
}

package ai.parallax.runtime.bench;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.moe.MoeConfig;

/**
 * The work one token costs a Llama-family model, from its config: bytes read from memory and floating-point
 * operations. These turn a machine's bandwidth and FMA rate into token-rate ceilings.
 *
 * <p>Decoding one token reads every weight once, except the embedding table (one row is looked up; when the
 * embeddings are tied, the table is read whole as lm_head anyway), plus the keys and values of every cached
 * position. It does one multiply-add per weight of every matrix (lm_head included) and, per layer,
 * {@code 2 · context · queryWidth} multiply-adds of attention (scores and weighted values). In a mixture of experts,
 * a token reads and multiplies with the router and its top-k experts only; at batch 1 that is what it costs (a
 * batch may touch more experts than one token does, which this model does not count).
 *
 * @param linearParameters weights of every matrix a token multiplies with: projections, MLP and lm_head
 * @param weightBytesRead  bytes of the weights a decoded token reads (all of them but an untied embedding table)
 */
public record ModelCost(long linearParameters, long weightBytesRead, int layers, int queryWidth,
                        int keyValueWidth) {

    /**
     * The cost model of {@code config} stored in {@code weightBytes} bytes (as the loader reports them; quantised
     * weights weigh less per parameter).
     */
    public static ModelCost of(ModelConfig config, long weightBytes) {
        long hidden = config.hiddenSize();
        long attention = hidden * config.queryWidth() * 2L + hidden * config.keyValueWidth() * 2L;
        long dense = 3L * hidden * config.intermediateSize();
        MoeConfig moe = config.json().has("num_experts") ? MoeConfig.parse(config, "config.json") : null;
        long stored = 0;
        long active = 0;
        for (int layer = 0; layer < config.numLayers(); layer++) {
            if (moe != null && moe.isSparse(layer)) {
                // A token reads the router, its top-k experts and the shared expert, if any; not the others.
                long expert = 3L * hidden * moe.expertIntermediate();
                long always = (long) moe.experts() * hidden + 3L * hidden * moe.sharedExpertIntermediate()
                        + (moe.hasSharedExpert() ? hidden : 0);
                stored += attention + moe.experts() * expert + always;
                active += attention + moe.expertsPerToken() * expert + always;
            } else {
                stored += attention + dense;
                active += attention + dense;
            }
        }
        long embedding = (long) config.vocabSize() * hidden;
        long norms = 2L * hidden * config.numLayers() + hidden;
        long allParameters = stored + embedding + norms + (config.tieWordEmbeddings() ? 0 : embedding);
        double bytesPerParameter = (double) weightBytes / allParameters;
        long unread = Math.round((stored - active + (config.tieWordEmbeddings() ? 0 : embedding))
                * bytesPerParameter);
        return new ModelCost(active + embedding, weightBytes - unread, config.numLayers(), config.queryWidth(),
                config.keyValueWidth());
    }

    /**
     * The cost model of {@code config} with its linear weights in Q8: one byte per weight plus a 4-byte scale per
     * 32 ({@link ai.parallax.tensors.quant.Q8Weights}); norms and the embedding rows looked up are left out.
     */
    public static ModelCost ofQ8(ModelConfig config) {
        ModelCost asStored = of(config, 1);
        long bytes = Math.round(asStored.linearParameters() * (1 + 4.0 / 32));
        return new ModelCost(asStored.linearParameters(), bytes, asStored.layers(), asStored.queryWidth(),
                asStored.keyValueWidth());
    }

    /** Bytes read to decode a token that attends to {@code context} positions (an F32 KV cache). */
    public double bytesPerToken(double context) {
        return weightBytesRead + 2.0 * layers * context * keyValueWidth * Float.BYTES;
    }

    /** Floating-point operations (2 per multiply-add) of a token attending to {@code context} positions. */
    public double flopsPerToken(double context) {
        return 2.0 * linearParameters + 4.0 * layers * context * queryWidth;
    }
}

package ai.parallax.models;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.deepseek.DeepSeekConfig;
import ai.parallax.models.deepseek.DeepSeekModel;
import ai.parallax.models.gptoss.GptOssConfig;
import ai.parallax.models.moe.MoeConfig;
import ai.parallax.models.qwen3next.Qwen3NextConfig;
import java.util.Locale;

/**
 * What one decoder layer is and what it keeps per sequence, from config.json alone: the kind of token mixing and
 * channel mixing it does, and its cache, which is what separates the families' layers when placing or measuring
 * them. Full attention caches keys and values of every position; a sliding layer attends to its last
 * {@link #window} positions only; DeepSeek's latent attention caches one compressed latent per position; a linear
 * layer keeps a fixed state per sequence and nothing per position.
 *
 * @param attention              the token mixing, in words: {@code full attention}, {@code sliding attention},
 *                               {@code MLA} or {@code linear attention}
 * @param experts                routed experts of the layer's mixture, 0 for a dense MLP
 * @param expertsPerToken        experts each token is routed to, 0 for a dense MLP
 * @param cacheBytesPerPosition  F32 cache bytes one position of one sequence takes in this layer
 * @param window                 positions a query attends to at most, 0 for no limit
 * @param stateBytesPerSequence  F32 bytes of fixed per-sequence state (linear attention), 0 for none
 */
public record LayerProfile(String attention, int experts, int expertsPerToken, long cacheBytesPerPosition,
                           int window, long stateBytesPerSequence) {

    /** The profile of layer {@code layer} of the model {@code config} describes. */
    public static LayerProfile of(ModelConfig config, int layer) {
        String source = config.modelType() + " config";
        long kv = 2L * config.keyValueWidth() * Float.BYTES;
        switch (config.modelType()) {
            case "gpt_oss" -> {
                GptOssConfig g = GptOssConfig.parse(config, source);
                boolean sliding = g.isSliding(layer);
                return new LayerProfile(sliding ? "sliding attention" : "full attention", g.experts(),
                        g.expertsPerToken(), kv, sliding ? g.slidingWindow() : 0, 0);
            }
            case "deepseek_v3", "kimi_k2" -> {
                DeepSeekConfig d = DeepSeekConfig.parse(config, source);
                boolean sparse = d.isSparse(layer);
                return new LayerProfile("MLA", sparse ? d.routedExperts() : 0, sparse ? d.expertsPerToken() : 0,
                        DeepSeekModel.kvBytesPerPositionAndLayer(config), 0, 0);
            }
            case "qwen3_next" -> {
                Qwen3NextConfig q = Qwen3NextConfig.parse(config, source);
                boolean sparse = q.moe().isSparse(layer);
                int experts = sparse ? q.moe().experts() : 0;
                int perToken = sparse ? q.moe().expertsPerToken() : 0;
                if (q.isLinear(layer)) {
                    long state = ((long) q.convStateWidth() + q.deltaStateWidth()) * Float.BYTES;
                    return new LayerProfile("linear attention", experts, perToken, 0, 0, state);
                }
                return new LayerProfile("full attention", experts, perToken, kv, 0, 0);
            }
            default -> {
                MoeConfig moe = config.json().has("num_experts") ? MoeConfig.parse(config, source) : null;
                boolean sparse = moe != null && moe.isSparse(layer);
                return new LayerProfile("full attention", sparse ? moe.experts() : 0,
                        sparse ? moe.expertsPerToken() : 0, kv, 0, 0);
            }
        }
    }

    public boolean isMixtureOfExperts() {
        return experts > 0;
    }

    /** The layer's kind in words, for reports: token mixing + channel mixing. */
    public String kind() {
        String mixing = attention + (window > 0 ? " (window " + window + ")" : "");
        return mixing + " + " + (isMixtureOfExperts()
                ? String.format(Locale.ROOT, "MoE %d/%d", expertsPerToken, experts) : "dense MLP");
    }

    /**
     * Cache bytes this layer needs for one sequence of {@code positions} tokens when it keeps only what it reads:
     * every position, the last {@code window} ones, or the fixed state.
     */
    public long cacheBytes(long positions) {
        long kept = window > 0 ? Math.min(positions, window) : positions;
        return kept * cacheBytesPerPosition + stateBytesPerSequence;
    }

    /**
     * Of {@code experts} experts with {@code perToken} routed per token, the fraction a step of {@code batch}
     * tokens reads when routing spreads evenly: {@code 1 − (1 − k/E)^batch}. A dense layer reads all of itself.
     */
    public double expertFractionRead(int batch) {
        if (!isMixtureOfExperts()) {
            return 1;
        }
        return 1 - Math.pow(1 - (double) expertsPerToken / experts, batch);
    }
}

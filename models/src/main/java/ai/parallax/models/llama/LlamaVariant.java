package ai.parallax.models.llama;

import ai.parallax.models.config.ModelConfig;

/**
 * What distinguishes the members of the Llama family that share {@link LlamaModel}'s forward pass.
 *
 * @param queryKeyValueBias q/k/v projections have biases (Qwen2; Llama with {@code attention_bias})
 * @param outputBias        o projection has a bias (Llama with {@code attention_bias})
 * @param queryKeyNorm      per-head RMSNorm on q and k before rotary (Qwen3)
 * @param mlpBias           gate/up/down have biases (Llama with {@code mlp_bias})
 */
public record LlamaVariant(String modelType, boolean queryKeyValueBias, boolean outputBias, boolean queryKeyNorm,
                           boolean mlpBias) {

    public static LlamaVariant llama(ModelConfig c) {
        boolean mlpBias = c.json().path("mlp_bias").asBoolean(false);
        return new LlamaVariant("llama", c.attentionBias(), c.attentionBias(), false, mlpBias);
    }

    public static LlamaVariant qwen2(ModelConfig c) {
        return new LlamaVariant("qwen2", true, false, false, false);
    }

    public static LlamaVariant qwen3(ModelConfig c) {
        return new LlamaVariant("qwen3", c.attentionBias(), c.attentionBias(), true, false);
    }
}

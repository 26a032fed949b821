package ai.parallax.models.llama;

import ai.parallax.models.config.ModelConfig;

/**
 * What distinguishes the members of the Llama family that share {@link LlamaModel}'s forward pass.
 *
 * @param queryKeyValueBias q/k/v projections have biases (Qwen2; Llama with {@code attention_bias})
 * @param outputBias        o projection has a bias (Llama with {@code attention_bias})
 * @param queryKeyNorm      per-head RMSNorm on q and k before rotary (Qwen3)
 * @param mlpBias           gate/up/down have biases (Llama with {@code mlp_bias})
 * @param mixtureOfExperts  sparse layers route to experts ({@link ai.parallax.models.moe.MoeConfig}: Qwen2-MoE,
 *                          Qwen3-MoE)
 */
public record LlamaVariant(String modelType, boolean queryKeyValueBias, boolean outputBias, boolean queryKeyNorm,
                           boolean mlpBias, boolean mixtureOfExperts) {

    public static LlamaVariant llama(ModelConfig c) {
        boolean mlpBias = c.json().path("mlp_bias").asBoolean(false);
        return new LlamaVariant("llama", c.attentionBias(), c.attentionBias(), false, mlpBias, false);
    }

    public static LlamaVariant qwen2(ModelConfig c) {
        return new LlamaVariant("qwen2", true, false, false, false, false);
    }

    public static LlamaVariant qwen3(ModelConfig c) {
        return new LlamaVariant("qwen3", c.attentionBias(), c.attentionBias(), true, false, false);
    }

    /** Qwen2 attention (q/k/v biases) with sparse layers that also have a sigmoid-gated shared expert. */
    public static LlamaVariant qwen2Moe(ModelConfig c) {
        return new LlamaVariant("qwen2_moe", true, false, false, false, true);
    }

    /** Qwen3 attention (per-head q/k norm) with sparse layers. */
    public static LlamaVariant qwen3Moe(ModelConfig c) {
        return new LlamaVariant("qwen3_moe", c.attentionBias(), c.attentionBias(), true, false, true);
    }
}

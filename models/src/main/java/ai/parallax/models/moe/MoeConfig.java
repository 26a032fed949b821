package ai.parallax.models.moe;

import ai.parallax.models.ModelException;
import ai.parallax.models.config.ModelConfig;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.HashSet;
import java.util.Set;

/**
 * The mixture-of-experts fields of a Qwen2-MoE or Qwen3-MoE {@code config.json}, defaulted as transformers
 * defaults them.
 *
 * @param experts                 {@code num_experts}
 * @param expertsPerToken         {@code num_experts_per_tok}: the k of the top-k routing
 * @param expertIntermediate      {@code moe_intermediate_size}: each expert's hidden width
 * @param normalizeTopK           {@code norm_topk_prob}: renormalise the k routing weights to sum to 1
 * @param sparseStep              {@code decoder_sparse_step}: layer i is sparse when (i + 1) is a multiple of it
 * @param denseLayers             {@code mlp_only_layers}: layers that keep a dense MLP whatever the step
 * @param sharedExpertIntermediate {@code shared_expert_intermediate_size} (Qwen2-MoE), 0 for none
 */
public record MoeConfig(int experts, int expertsPerToken, int expertIntermediate, boolean normalizeTopK,
                        int sparseStep, Set<Integer> denseLayers, int sharedExpertIntermediate) {

    public MoeConfig {
        denseLayers = Set.copyOf(denseLayers);
    }

    /** Reads the fields from a config; {@code source} names it in errors. */
    public static MoeConfig parse(ModelConfig config, String source) {
        JsonNode json = config.json();
        int experts = positive(json, "num_experts", source);
        int perToken = positive(json, "num_experts_per_tok", source);
        if (perToken > experts) {
            throw new ModelException(source + ": num_experts_per_tok " + perToken + " exceeds num_experts "
                    + experts);
        }
        int intermediate = positive(json, "moe_intermediate_size", source);
        int step = json.hasNonNull("decoder_sparse_step") ? positive(json, "decoder_sparse_step", source) : 1;
        Set<Integer> dense = new HashSet<>();
        json.path("mlp_only_layers").forEach(n -> dense.add(n.asInt()));
        int shared = json.path("shared_expert_intermediate_size").asInt(0);
        return new MoeConfig(experts, perToken, intermediate, json.path("norm_topk_prob").asBoolean(false), step,
                dense, shared);
    }

    /** Whether layer {@code layer} routes to experts (else it has a dense MLP of {@code intermediate_size}). */
    public boolean isSparse(int layer) {
        return !denseLayers.contains(layer) && (layer + 1) % sparseStep == 0;
    }

    public boolean hasSharedExpert() {
        return sharedExpertIntermediate > 0;
    }

    private static int positive(JsonNode json, String name, String source) {
        JsonNode n = json.get(name);
        if (n == null || !n.isIntegralNumber() || n.asInt() <= 0) {
            throw new ModelException(source + ": \"" + name + "\" must be a positive integer, got " + n);
        }
        return n.asInt();
    }
}

package ai.parallax.models.deepseek;

import ai.parallax.models.ModelException;
import ai.parallax.models.config.ModelConfig;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * The fields of a DeepSeek-V3 / Kimi-K2 {@code config.json} ({@code model_type: deepseek_v3}, or {@code kimi_k2},
 * which Kimi-K2 sets to tell engines apart while reusing the architecture) beyond the common ones of
 * {@link ModelConfig}. The attention shapes and expert counts are required; the routing and layout flags default as
 * transformers' {@code DeepseekV3Config} defaults them. Every value this engine does not implement is refused by
 * name at parse time: a DeepSeek-V2 softmax router read as V3's sigmoid router would give plausible-looking garbage.
 *
 * @param queryLoraRank        {@code q_lora_rank}: width of the compressed query, 0 when null (one {@code q_proj});
 *                             1536 when absent
 * @param kvLoraRank           {@code kv_lora_rank}: width of the compressed key/value latent that the cache keeps
 * @param nopeHeadDim          {@code qk_nope_head_dim}: the part of each query/key head without rotary
 * @param ropeHeadDim          {@code qk_rope_head_dim}: the rotary part, one key shared by all heads
 * @param valueHeadDim         {@code v_head_dim}
 * @param ropeInterleave       {@code rope_interleave}: the rotary part is stored as interleaved pairs
 * @param routedExperts        {@code n_routed_experts}
 * @param sharedExperts        {@code n_shared_experts}: their MLP is {@code moe_intermediate_size × n_shared}
 * @param expertsPerToken      {@code num_experts_per_tok}
 * @param expertIntermediate   {@code moe_intermediate_size}
 * @param groups               {@code n_group}: experts are split into this many equal groups
 * @param groupsPerToken       {@code topk_group}: each token picks its experts from this many groups
 * @param normalizeTopK        {@code norm_topk_prob}
 * @param routedScalingFactor  {@code routed_scaling_factor}: multiplies the routing weights
 * @param firstDenseLayers     {@code first_k_dense_replace}: layers below it have a dense MLP
 * @param yarn                 the YaRN rotary scaling, or null without {@code rope_scaling}
 */
public record DeepSeekConfig(int queryLoraRank, int kvLoraRank, int nopeHeadDim, int ropeHeadDim, int valueHeadDim,
                             boolean ropeInterleave, int routedExperts, int sharedExperts, int expertsPerToken,
                             int expertIntermediate, int groups, int groupsPerToken, boolean normalizeTopK,
                             double routedScalingFactor, int firstDenseLayers, YarnScaling yarn) {

    /** Reads and checks the DeepSeek fields of {@code config}; {@code source} names the file in errors. */
    public static DeepSeekConfig parse(ModelConfig config, String source) {
        JsonNode json = config.json();
        requireValue(json, "hidden_act", "silu", source);
        requireValue(json, "scoring_func", "sigmoid", source);
        requireValue(json, "topk_method", "noaux_tc", source);
        if (json.path("attention_bias").asBoolean(false)) {
            throw new ModelException(source + ": attention_bias true is not supported for deepseek_v3 "
                    + "(supported: false, as in the official checkpoints)");
        }
        if (json.hasNonNull("moe_layer_freq") && json.get("moe_layer_freq").asInt() != 1) {
            throw new ModelException(source + ": moe_layer_freq " + json.get("moe_layer_freq")
                    + " is not supported (supported: 1, every layer from first_k_dense_replace on is MoE)");
        }
        int qLora = 0; // null: one q_proj
        if (!json.has("q_lora_rank")) {
            qLora = 1536;
        } else if (!json.get("q_lora_rank").isNull()) {
            qLora = positive(json, "q_lora_rank", source);
        }
        int rope = positive(json, "qk_rope_head_dim", source);
        if (rope % 2 != 0) {
            throw new ModelException(source + ": qk_rope_head_dim " + rope + " must be even (rotary pairs)");
        }
        int experts = positive(json, "n_routed_experts", source);
        int perToken = positive(json, "num_experts_per_tok", source);
        int groups = json.hasNonNull("n_group") ? positive(json, "n_group", source) : 8;
        int groupsPerToken = json.hasNonNull("topk_group") ? positive(json, "topk_group", source) : 4;
        if (experts % groups != 0) {
            throw new ModelException(source + ": n_routed_experts " + experts + " is not divisible by n_group "
                    + groups);
        }
        if (groupsPerToken > groups) {
            throw new ModelException(source + ": topk_group " + groupsPerToken + " exceeds n_group " + groups);
        }
        if (perToken > groupsPerToken * (experts / groups)) {
            throw new ModelException(source + ": num_experts_per_tok " + perToken + " exceeds the "
                    + groupsPerToken * (experts / groups) + " experts of the topk_group " + groupsPerToken
                    + " groups a token may use");
        }
        int shared = json.path("n_shared_experts").asInt(1);
        if (shared < 0) {
            throw new ModelException(source + ": n_shared_experts must not be negative, got " + shared);
        }
        int firstDense = json.path("first_k_dense_replace").asInt(3);
        if (firstDense < 0) {
            throw new ModelException(source + ": first_k_dense_replace must not be negative, got " + firstDense);
        }
        return new DeepSeekConfig(qLora, positive(json, "kv_lora_rank", source),
                positive(json, "qk_nope_head_dim", source), rope, positive(json, "v_head_dim", source),
                json.path("rope_interleave").asBoolean(true), experts, shared, perToken,
                positive(json, "moe_intermediate_size", source), groups, groupsPerToken,
                json.path("norm_topk_prob").asBoolean(true), json.path("routed_scaling_factor").asDouble(2.5),
                firstDense, YarnScaling.parse(json.path("rope_scaling"), source));
    }

    /** Whether layer {@code layer} routes to experts (else it has a dense MLP of {@code intermediate_size}). */
    public boolean isSparse(int layer) {
        return layer >= firstDenseLayers;
    }

    /** Width of one query/key head: {@code qk_nope_head_dim + qk_rope_head_dim}. */
    public int queryHeadDim() {
        return nopeHeadDim + ropeHeadDim;
    }

    /** Floats the cache keeps per position and layer: the latent and the shared rotary key. */
    public int latentWidth() {
        return kvLoraRank + ropeHeadDim;
    }

    /**
     * The softmax scale: {@code (qk_nope + qk_rope)^-0.5}, times YaRN's {@code mscale(factor, mscale_all_dim)²} when
     * {@code mscale_all_dim} is set (transformers' {@code DeepseekV3Attention}).
     */
    public double softmaxScale() {
        double scale = 1.0 / Math.sqrt(queryHeadDim());
        if (yarn != null && yarn.mscaleAllDim() != 0) {
            double m = YarnScaling.mscale(yarn.factor(), yarn.mscaleAllDim());
            scale *= m * m;
        }
        return scale;
    }

    private static void requireValue(JsonNode json, String name, String supported, String source) {
        JsonNode n = json.get(name);
        if (n != null && !n.isNull() && !supported.equals(n.asText())) {
            throw new ModelException(source + ": " + name + " \"" + n.asText() + "\" is not supported for "
                    + "deepseek_v3 (supported: " + supported + ")");
        }
    }

    static int positive(JsonNode json, String name, String source) {
        JsonNode n = json.get(name);
        if (n == null || n.isNull()) {
            throw new ModelException(source + ": missing \"" + name + "\"");
        }
        if (!n.isIntegralNumber() || n.asInt() <= 0) {
            throw new ModelException(source + ": \"" + name + "\" must be a positive integer, got " + n);
        }
        return n.asInt();
    }
}

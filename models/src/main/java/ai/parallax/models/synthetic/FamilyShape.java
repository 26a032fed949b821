package ai.parallax.models.synthetic;

import ai.parallax.models.ModelException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A published model of one of the large families (gpt-oss, DeepSeek-V3 / Kimi-K2, Qwen3-Next), given as the
 * config.json fields that decide its tensors. Unlike {@link ModelShape}, whose Llama-style dimensions fit a few
 * numbers, these architectures differ in kind (MLA, MXFP4 experts, linear attention), so the shape <em>is</em> the
 * published config; {@link FamilyCheckpointLayout} derives every tensor from it, the same way the loaders read it.
 *
 * <p>The figures are those of each model's config.json on the Hugging Face hub (openai/gpt-oss-20b and -120b,
 * deepseek-ai/DeepSeek-V3, moonshotai/Kimi-K2-Instruct, Qwen/Qwen3-Next-80B-A3B-Instruct).
 *
 * @param name          the name {@code parallax synth --shape} accepts
 * @param tokenizerName the folder under the shared models directory whose tokenizer fits the vocabulary, or null when
 *                      none there does (these families' tokenizers are not among the shared models)
 * @param config        config.json as the checkpoint would carry it
 */
public record FamilyShape(String name, String tokenizerName, ObjectNode config) {

    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final Map<String, FamilyShape> SHAPES = new LinkedHashMap<>();

    static {
        add(new FamilyShape("gpt-oss-20b", null, gptOss(24, 32)));
        add(new FamilyShape("gpt-oss-120b", null, gptOss(36, 128)));
        add(new FamilyShape("deepseek-v3", null, deepSeekV3()));
        add(new FamilyShape("kimi-k2", null, kimiK2()));
        add(new FamilyShape("qwen3-next-80b-a3b", "tokenizer-qwen3", qwen3Next()));
    }

    private static void add(FamilyShape shape) {
        SHAPES.put(shape.name(), shape);
    }

    /** The shape called {@code name}, or null when no family shape has that name. */
    public static FamilyShape find(String name) {
        return SHAPES.get(name);
    }

    /** The shape called {@code name}. */
    public static FamilyShape named(String name) {
        FamilyShape shape = SHAPES.get(name);
        if (shape == null) {
            throw new ModelException("unknown model shape \"" + name + "\" (known: " + String.join(", ", names())
                    + ")");
        }
        return shape;
    }

    /** Every family shape name, in a stable order. */
    public static List<String> names() {
        return List.copyOf(SHAPES.keySet());
    }

    public String modelType() {
        return config.path("model_type").asText();
    }

    public int numLayers() {
        return config.path("num_hidden_layers").asInt();
    }

    /**
     * The first {@code layers} decoder layers only, with a config that says so: what one pipeline stage of the
     * model holds, written as a whole model that loads and benchmarks on its own. Per-layer lists (gpt-oss's and
     * Qwen3-Next's {@code layer_types}, {@code mlp_only_layers}) are cut to the layers kept, so every kept layer
     * has the type it has in the full model.
     */
    public FamilyShape withLayers(int layers) {
        if (layers < 1 || layers > numLayers()) {
            throw new ModelException("--layers " + layers + " is outside [1, " + numLayers() + "] for shape " + name);
        }
        ObjectNode cut = config.deepCopy();
        cut.put("num_hidden_layers", layers);
        if (cut.get("layer_types") instanceof ArrayNode types) {
            ArrayNode kept = NODES.arrayNode();
            for (int i = 0; i < layers; i++) {
                kept.add(types.get(i));
            }
            cut.set("layer_types", kept);
        }
        if (cut.get("mlp_only_layers") instanceof ArrayNode only) {
            ArrayNode kept = NODES.arrayNode();
            for (JsonNode layer : only) {
                if (layer.asInt() < layers) {
                    kept.add(layer);
                }
            }
            cut.set("mlp_only_layers", kept);
        }
        if (cut.has("num_nextn_predict_layers")) {
            // The multi-token-prediction layer follows the last decoder layer; a slice of the first ones has none.
            cut.put("num_nextn_predict_layers", 0);
        }
        return new FamilyShape(name, tokenizerName, cut);
    }

    /** openai/gpt-oss-20b (24 layers, 32 experts) and gpt-oss-120b (36 layers, 128 experts). */
    private static ObjectNode gptOss(int layers, int experts) {
        ObjectNode c = NODES.objectNode();
        c.set("architectures", NODES.arrayNode().add("GptOssForCausalLM"));
        c.put("attention_bias", true);
        c.put("attention_dropout", 0.0);
        c.put("eos_token_id", 200002);
        c.put("experts_per_token", 4);
        c.put("head_dim", 64);
        c.put("hidden_act", "silu");
        c.put("hidden_size", 2880);
        c.put("initial_context_length", 4096);
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", 2880);
        ArrayNode types = NODES.arrayNode();
        for (int i = 0; i < layers; i++) {
            types.add(i % 2 == 0 ? "sliding_attention" : "full_attention");
        }
        c.set("layer_types", types);
        c.put("max_position_embeddings", 131072);
        c.put("model_type", "gpt_oss");
        c.put("num_attention_heads", 64);
        c.put("num_experts_per_tok", 4);
        c.put("num_hidden_layers", layers);
        c.put("num_key_value_heads", 8);
        c.put("num_local_experts", experts);
        c.put("output_router_logits", false);
        c.put("pad_token_id", 199999);
        ObjectNode quantization = c.putObject("quantization_config");
        quantization.set("modules_to_not_convert", NODES.arrayNode().add("model.layers.*.self_attn")
                .add("model.layers.*.mlp.router").add("model.embed_tokens").add("lm_head"));
        quantization.put("quant_method", "mxfp4");
        c.put("rms_norm_eps", 1e-5);
        ObjectNode rope = c.putObject("rope_scaling");
        rope.put("beta_fast", 32.0);
        rope.put("beta_slow", 1.0);
        rope.put("factor", 32.0);
        rope.put("original_max_position_embeddings", 4096);
        rope.put("rope_type", "yarn");
        rope.put("truncate", false);
        c.put("rope_theta", 150000);
        c.put("router_aux_loss_coef", 0.9);
        c.put("sliding_window", 128);
        c.put("swiglu_limit", 7.0);
        c.put("tie_word_embeddings", false);
        c.put("torch_dtype", "bfloat16");
        c.put("transformers_version", "4.55.0");
        c.put("use_cache", true);
        c.put("vocab_size", 201088);
        return c;
    }

    /** The fields DeepSeek-V3 and Kimi-K2 share: the architecture, MLA ranks and block-FP8 weights. */
    private static ObjectNode deepSeekCommon() {
        ObjectNode c = NODES.objectNode();
        c.set("architectures", NODES.arrayNode().add("DeepseekV3ForCausalLM"));
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("aux_loss_alpha", 0.001);
        c.put("ep_size", 1);
        c.put("hidden_act", "silu");
        c.put("hidden_size", 7168);
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", 18432);
        c.put("kv_lora_rank", 512);
        c.put("model_type", "deepseek_v3");
        c.put("moe_intermediate_size", 2048);
        c.put("moe_layer_freq", 1);
        c.put("n_shared_experts", 1);
        c.put("norm_topk_prob", true);
        c.put("num_experts_per_tok", 8);
        c.put("num_hidden_layers", 61);
        c.put("pretraining_tp", 1);
        c.put("q_lora_rank", 1536);
        c.put("qk_nope_head_dim", 128);
        c.put("qk_rope_head_dim", 64);
        ObjectNode quantization = c.putObject("quantization_config");
        quantization.put("activation_scheme", "dynamic");
        quantization.put("fmt", "e4m3");
        quantization.put("quant_method", "fp8");
        quantization.set("weight_block_size", NODES.arrayNode().add(128).add(128));
        c.put("rms_norm_eps", 1e-6);
        c.put("scoring_func", "sigmoid");
        c.put("seq_aux", true);
        c.put("tie_word_embeddings", false);
        c.put("topk_method", "noaux_tc");
        c.put("torch_dtype", "bfloat16");
        c.put("transformers_version", "4.33.1");
        c.put("use_cache", true);
        c.put("v_head_dim", 128);
        return c;
    }

    /** deepseek-ai/DeepSeek-V3: 61 layers, the first 3 dense, 256 experts in 8 groups. */
    private static ObjectNode deepSeekV3() {
        ObjectNode c = deepSeekCommon();
        c.put("bos_token_id", 0);
        c.put("eos_token_id", 1);
        c.put("first_k_dense_replace", 3);
        c.put("max_position_embeddings", 163840);
        c.put("n_group", 8);
        c.put("n_routed_experts", 256);
        c.put("num_attention_heads", 128);
        c.put("num_key_value_heads", 128);
        c.put("num_nextn_predict_layers", 1);
        ObjectNode rope = c.putObject("rope_scaling");
        rope.put("beta_fast", 32);
        rope.put("beta_slow", 1);
        rope.put("factor", 40);
        rope.put("mscale", 1.0);
        rope.put("mscale_all_dim", 1.0);
        rope.put("original_max_position_embeddings", 4096);
        rope.put("type", "yarn");
        c.put("rope_theta", 10000);
        c.put("routed_scaling_factor", 2.5);
        c.put("topk_group", 4);
        c.put("vocab_size", 129280);
        return c;
    }

    /** moonshotai/Kimi-K2-Instruct: DeepSeek-V3's architecture with 384 experts, 64 heads and one dense layer. */
    private static ObjectNode kimiK2() {
        ObjectNode c = deepSeekCommon();
        // Kimi-K2's config names its own model_type, with DeepSeek-V3's architecture class.
        c.put("model_type", "kimi_k2");
        c.put("bos_token_id", 163584);
        c.put("eos_token_id", 163585);
        c.put("first_k_dense_replace", 1);
        c.put("max_position_embeddings", 131072);
        c.put("n_group", 1);
        c.put("n_routed_experts", 384);
        c.put("num_attention_heads", 64);
        c.put("num_key_value_heads", 64);
        c.put("num_nextn_predict_layers", 0);
        ObjectNode rope = c.putObject("rope_scaling");
        rope.put("beta_fast", 1.0);
        rope.put("beta_slow", 1.0);
        rope.put("factor", 32.0);
        rope.put("mscale", 1.0);
        rope.put("mscale_all_dim", 1.0);
        rope.put("original_max_position_embeddings", 4096);
        rope.put("type", "yarn");
        c.put("rope_theta", 50000.0);
        c.put("routed_scaling_factor", 2.827);
        c.put("topk_group", 1);
        c.put("vocab_size", 163840);
        return c;
    }

    /** Qwen/Qwen3-Next-80B-A3B: 48 layers, three gated-DeltaNet layers to each gated full-attention layer. */
    private static ObjectNode qwen3Next() {
        ObjectNode c = NODES.objectNode();
        c.set("architectures", NODES.arrayNode().add("Qwen3NextForCausalLM"));
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("bos_token_id", 151643);
        c.put("decoder_sparse_step", 1);
        c.put("eos_token_id", 151645);
        c.put("full_attention_interval", 4);
        c.put("head_dim", 256);
        c.put("hidden_act", "silu");
        c.put("hidden_size", 2048);
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", 5120);
        c.put("linear_conv_kernel_dim", 4);
        c.put("linear_key_head_dim", 128);
        c.put("linear_num_key_heads", 16);
        c.put("linear_num_value_heads", 32);
        c.put("linear_value_head_dim", 128);
        c.put("max_position_embeddings", 262144);
        c.set("mlp_only_layers", NODES.arrayNode());
        c.put("model_type", "qwen3_next");
        c.put("moe_intermediate_size", 512);
        c.put("norm_topk_prob", true);
        c.put("num_attention_heads", 16);
        c.put("num_experts", 512);
        c.put("num_experts_per_tok", 10);
        c.put("num_hidden_layers", 48);
        c.put("num_key_value_heads", 2);
        c.put("output_router_logits", false);
        c.put("partial_rotary_factor", 0.25);
        c.put("rms_norm_eps", 1e-6);
        c.putNull("rope_scaling");
        c.put("rope_theta", 10000000);
        c.put("router_aux_loss_coef", 0.001);
        c.put("shared_expert_intermediate_size", 512);
        c.put("tie_word_embeddings", false);
        c.put("torch_dtype", "bfloat16");
        c.put("transformers_version", "4.57.0.dev0");
        c.put("use_cache", true);
        c.put("use_sliding_window", false);
        c.put("vocab_size", 151936);
        return c;
    }
}

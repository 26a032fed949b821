package ai.parallax.models.synthetic;

import ai.parallax.models.ModelException;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.safetensors.SafetensorsWriter.Entry;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Every tensor of a gpt-oss, DeepSeek-V3 / Kimi-K2 or Qwen3-Next checkpoint, derived from its config.json in the
 * official layout, names and storage types included (the tiny reference models in {@code ../shared/models} are
 * written the same way):
 * <ul>
 *   <li>gpt-oss: BF16 attention with biases and sinks, a biased router, and the experts fused per layer in MXFP4,
 *       {@code *_blocks} (two E2M1 codes a byte, 16 bytes per 32 values) with {@code *_scales} (one E8M0 exponent
 *       per 32 values), beside BF16 expert biases;</li>
 *   <li>DeepSeek-V3 / Kimi-K2: multi-head latent attention, the first {@code first_k_dense_replace} layers dense
 *       and the rest routed experts plus shared experts; every projection block-FP8 (F8_E4M3 with an F32
 *       {@code weight_scale_inv} per 128×128 block), the router, norms and embeddings BF16;</li>
 *   <li>Qwen3-Next: gated DeltaNet and gated full attention by {@code layer_types} or
 *       {@code full_attention_interval}, sparse experts with a gated shared expert except in
 *       {@code mlp_only_layers}; zero-centred norms, so their weights sit near 0 rather than 1.</li>
 * </ul>
 * The tensors are produced lazily by {@link SyntheticCheckpoint}: building the list writes nothing, so the plan of a
 * 671B model is cheap to inspect.
 */
final class FamilyCheckpointLayout {
    /** E2M1 codes uniform over all 16: root mean square of ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}. */
    private static final double E2M1_UNIFORM_RMS = Math.sqrt((0 + 0.25 + 1 + 2.25 + 4 + 9 + 16 + 36) / 8.0);
    private static final int MXFP4_BLOCK = 32;

    private final SyntheticCheckpoint tensors;
    private final JsonNode config;
    private final List<Entry> entries = new ArrayList<>();

    private FamilyCheckpointLayout(SyntheticCheckpoint tensors, JsonNode config) {
        this.tensors = tensors;
        this.config = config;
    }

    /** The tensors of the checkpoint {@code config} describes, in the order {@code tensors} makes them. */
    static List<Entry> entries(SyntheticCheckpoint tensors, JsonNode config) {
        FamilyCheckpointLayout layout = new FamilyCheckpointLayout(tensors, config);
        String type = config.path("model_type").asText();
        int hidden = layout.integer("hidden_size");
        int vocab = layout.integer("vocab_size");
        layout.entries.add(tensors.dense("model.embed_tokens.weight", vocab, hidden));
        boolean zeroCentredNorms = "qwen3_next".equals(type);
        for (int layer = 0; layer < layout.integer("num_hidden_layers"); layer++) {
            String p = "model.layers." + layer + ".";
            switch (type) {
                case "gpt_oss" -> layout.gptOssLayer(p, layer, hidden);
                case "deepseek_v3", "kimi_k2" -> layout.deepSeekLayer(p, layer, hidden);
                case "qwen3_next" -> layout.qwen3NextLayer(p, layer, hidden);
                default -> throw new ModelException("synth has no checkpoint layout for model_type \"" + type + "\"");
            }
            layout.norm(p + "input_layernorm.weight", hidden, zeroCentredNorms);
            layout.norm(p + "post_attention_layernorm.weight", hidden, zeroCentredNorms);
        }
        layout.norm("model.norm.weight", hidden, zeroCentredNorms);
        layout.entries.add(tensors.dense("lm_head.weight", vocab, hidden));
        return layout.entries;
    }

    private void gptOssLayer(String p, int layer, int hidden) {
        int heads = integer("num_attention_heads");
        int headDim = integer("head_dim");
        int kv = integer("num_key_value_heads") * headDim;
        int experts = integer("num_local_experts");
        int intermediate = integer("intermediate_size");
        biasedProjection(p + "self_attn.q_proj", heads * headDim, hidden);
        biasedProjection(p + "self_attn.k_proj", kv, hidden);
        biasedProjection(p + "self_attn.v_proj", kv, hidden);
        biasedProjection(p + "self_attn.o_proj", hidden, heads * headDim);
        entries.add(tensors.filled(p + "self_attn.sinks", DType.BF16, 0f, 1f, heads));
        biasedProjection(p + "mlp.router", experts, hidden);
        // gate_up_proj interleaves gate and up rows: 2·intermediate outputs from hidden inputs.
        mxfp4Experts(p + "mlp.experts.gate_up_proj", experts, 2L * intermediate, hidden);
        mxfp4Experts(p + "mlp.experts.down_proj", experts, hidden, intermediate);
    }

    private void biasedProjection(String prefix, long rows, long cols) {
        entries.add(tensors.dense(prefix + ".weight", rows, cols));
        entries.add(tensors.filled(prefix + ".bias", DType.BF16, 0f, 0.02f, rows));
    }

    /**
     * Experts {@code [experts, rows, cols]} in MXFP4 with a bias per output. Uniform random codes under one scale,
     * chosen so that the weights' root mean square is the {@code 1/sqrt(fan_in)} of the dense weights.
     */
    private void mxfp4Experts(String prefix, long experts, long rows, long cols) {
        if (cols % MXFP4_BLOCK != 0) {
            throw new ModelException(prefix + ": " + cols + " inputs are not a whole number of MXFP4 blocks of "
                    + MXFP4_BLOCK);
        }
        long blocks = cols / MXFP4_BLOCK;
        int exponent = 127 + (int) Math.round(Math.log(1 / (Math.sqrt(cols) * E2M1_UNIFORM_RMS)) / Math.log(2));
        entries.add(tensors.filled(prefix + "_blocks", DType.U8, 127.5f, 128f, experts, rows, blocks,
                MXFP4_BLOCK / 2));
        entries.add(tensors.filled(prefix + "_scales", DType.U8, exponent, 0f, experts, rows, blocks));
        entries.add(tensors.filled(prefix + "_bias", DType.BF16, 0f, 0.02f, experts, rows));
    }

    private void deepSeekLayer(String p, int layer, int hidden) {
        int heads = integer("num_attention_heads");
        int nope = integer("qk_nope_head_dim");
        int rope = integer("qk_rope_head_dim");
        int valueDim = integer("v_head_dim");
        int kvRank = integer("kv_lora_rank");
        JsonNode qRank = config.get("q_lora_rank");
        if (qRank == null || qRank.isNull()) {
            projection(p + "self_attn.q_proj", (long) heads * (nope + rope), hidden);
        } else {
            projection(p + "self_attn.q_a_proj", qRank.asInt(), hidden);
            norm(p + "self_attn.q_a_layernorm.weight", qRank.asInt(), false);
            projection(p + "self_attn.q_b_proj", (long) heads * (nope + rope), qRank.asInt());
        }
        projection(p + "self_attn.kv_a_proj_with_mqa", kvRank + rope, hidden);
        norm(p + "self_attn.kv_a_layernorm.weight", kvRank, false);
        projection(p + "self_attn.kv_b_proj", (long) heads * (nope + valueDim), kvRank);
        projection(p + "self_attn.o_proj", hidden, (long) heads * valueDim);
        int frequency = config.path("moe_layer_freq").asInt(1);
        boolean dense = layer < integer("first_k_dense_replace") || layer % frequency != 0;
        if (dense) {
            mlp(p + "mlp.", integer("intermediate_size"), hidden);
            return;
        }
        int experts = integer("n_routed_experts");
        int expertWidth = integer("moe_intermediate_size");
        entries.add(tensors.dense(p + "mlp.gate.weight", experts, hidden));
        entries.add(tensors.filled(p + "mlp.gate.e_score_correction_bias", DType.F32, 0f, 0.01f, experts));
        for (int e = 0; e < experts; e++) {
            mlp(p + "mlp.experts." + e + ".", expertWidth, hidden);
        }
        mlp(p + "mlp.shared_experts.", expertWidth * integer("n_shared_experts"), hidden);
    }

    private void qwen3NextLayer(String p, int layer, int hidden) {
        if (isLinearAttention(layer)) {
            int keyHeads = integer("linear_num_key_heads");
            int keyDim = integer("linear_key_head_dim");
            int valueHeads = integer("linear_num_value_heads");
            int valueDim = integer("linear_value_head_dim");
            long keys = (long) keyHeads * keyDim;
            long values = (long) valueHeads * valueDim;
            // q, k, v and the output gate z, grouped per key head as the checkpoint stores them.
            projection(p + "linear_attn.in_proj_qkvz", 2 * keys + 2 * values, hidden);
            projection(p + "linear_attn.in_proj_ba", 2L * valueHeads, hidden);
            int kernel = integer("linear_conv_kernel_dim");
            entries.add(tensors.filled(p + "linear_attn.conv1d.weight", DType.BF16, 0f,
                    (float) Math.sqrt(3.0 / kernel), 2 * keys + values, 1, kernel));
            entries.add(tensors.filled(p + "linear_attn.dt_bias", DType.BF16, 0f, 0.5f, valueHeads));
            entries.add(tensors.filled(p + "linear_attn.A_log", DType.BF16, 0f, 0.5f, valueHeads));
            norm(p + "linear_attn.norm.weight", valueDim, false);
            projection(p + "linear_attn.out_proj", hidden, values);
        } else {
            int heads = integer("num_attention_heads");
            int headDim = integer("head_dim");
            long kv = (long) integer("num_key_value_heads") * headDim;
            // The doubled query: each head's query followed by its output gate.
            projection(p + "self_attn.q_proj", 2L * heads * headDim, hidden);
            projection(p + "self_attn.k_proj", kv, hidden);
            projection(p + "self_attn.v_proj", kv, hidden);
            projection(p + "self_attn.o_proj", hidden, (long) heads * headDim);
            norm(p + "self_attn.q_norm.weight", headDim, true);
            norm(p + "self_attn.k_norm.weight", headDim, true);
        }
        Set<Integer> mlpOnly = new HashSet<>();
        config.path("mlp_only_layers").forEach(n -> mlpOnly.add(n.asInt()));
        int step = config.path("decoder_sparse_step").asInt(1);
        if (mlpOnly.contains(layer) || (layer + 1) % step != 0) {
            mlp(p + "mlp.", integer("intermediate_size"), hidden);
            return;
        }
        int experts = integer("num_experts");
        entries.add(tensors.dense(p + "mlp.gate.weight", experts, hidden));
        for (int e = 0; e < experts; e++) {
            mlp(p + "mlp.experts." + e + ".", integer("moe_intermediate_size"), hidden);
        }
        mlp(p + "mlp.shared_expert.", integer("shared_expert_intermediate_size"), hidden);
        entries.add(tensors.dense(p + "mlp.shared_expert_gate.weight", 1, hidden));
    }

    private boolean isLinearAttention(int layer) {
        JsonNode types = config.get("layer_types");
        if (types != null && types.isArray()) {
            return "linear_attention".equals(types.path(layer).asText());
        }
        return (layer + 1) % integer("full_attention_interval") != 0;
    }

    private void mlp(String prefix, long width, long hidden) {
        projection(prefix + "gate_proj", width, hidden);
        projection(prefix + "up_proj", width, hidden);
        projection(prefix + "down_proj", hidden, width);
    }

    private void projection(String prefix, long rows, long cols) {
        tensors.projection(entries, prefix, rows, cols);
    }

    private void norm(String name, long width, boolean zeroCentred) {
        entries.add(tensors.filled(name, DType.BF16, zeroCentred ? 0f : 1f, 0.05f, width));
    }

    private int integer(String field) {
        JsonNode node = config.get(field);
        if (node == null || !node.canConvertToInt()) {
            throw new ModelException("config.json of a " + config.path("model_type").asText()
                    + " shape needs an integer \"" + field + "\", got " + node);
        }
        return node.asInt();
    }
}

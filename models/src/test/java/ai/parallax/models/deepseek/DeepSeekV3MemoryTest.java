package ai.parallax.models.deepseek;

import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.DType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What DeepSeek-V3's own shapes (its official config.json, no weights needed) cost per layer beyond the checkpoint:
 * the latent cache and the absorbed attention matrices.
 */
class DeepSeekV3MemoryTest {

    private static ModelConfig deepSeekV3() {
        ObjectMapper json = new ObjectMapper();
        ObjectNode c = json.createObjectNode();
        c.put("model_type", "deepseek_v3").put("hidden_size", 7168).put("intermediate_size", 18432)
                .put("num_hidden_layers", 61).put("num_attention_heads", 128).put("num_key_value_heads", 128)
                .put("vocab_size", 129280).put("q_lora_rank", 1536).put("kv_lora_rank", 512)
                .put("qk_nope_head_dim", 128).put("qk_rope_head_dim", 64).put("v_head_dim", 128)
                .put("n_routed_experts", 256).put("n_shared_experts", 1).put("num_experts_per_tok", 8)
                .put("moe_intermediate_size", 2048).put("n_group", 8).put("topk_group", 4)
                .put("first_k_dense_replace", 3).put("routed_scaling_factor", 2.5)
                .put("max_position_embeddings", 163840);
        c.putObject("rope_scaling").put("type", "yarn").put("factor", 40).put("beta_fast", 32).put("beta_slow", 1)
                .put("mscale", 1.0).put("mscale_all_dim", 1.0).put("original_max_position_embeddings", 4096);
        ObjectNode q = c.putObject("quantization_config");
        q.put("quant_method", "fp8").put("fmt", "e4m3").put("activation_scheme", "dynamic");
        q.putArray("weight_block_size").add(128).add(128);
        return ModelConfig.parse(c, "DeepSeek-V3 config.json");
    }

    /** 512 + 64 floats per position and layer, against 128 heads × (192 + 128) for full keys and values: 71×. */
    @Test
    void latentCacheIsSeventyTimesSmallerThanFullKeysAndValues() {
        ModelConfig config = deepSeekV3();
        assertThat(DeepSeekModel.kvBytesPerPositionAndLayer(config)).isEqualTo(576 * 4);
        assertThat(ModelLoader.kvCacheBytesPerBlock(config, 61, 16)).isEqualTo(61L * 16 * 576 * 4);
        long full = 128L * (192 + 128) * 4;
        assertThat(full / DeepSeekModel.kvBytesPerPositionAndLayer(config)).isEqualTo(71);
    }

    /** FP8 [576, 192] and [128, 576] per head with F32 scales of [5, 2] and [1, 5] blocks: 23.6 MB per layer. */
    @Test
    void absorbedMatricesStayFp8() {
        ModelConfig config = deepSeekV3();
        DeepSeekConfig ds = DeepSeekConfig.parse(config, "DeepSeek-V3");
        long expected = 128L * (576 * 192 + 128 * 576 + (5 * 2 + 5) * 4);
        assertThat(AbsorbedProjections.bytesPerLayer(ds, 128, DType.F8_E4M3,
                Fp8Quantization.parse(config, "DeepSeek-V3"))).isEqualTo(expected).isEqualTo(23_600_640L);
        assertThat(DeepSeekModel.extraBytesPerLayer(config, DType.F8_E4M3)).isEqualTo(expected);
        // The same shapes from a BF16 checkpoint: exact BF16 copies.
        assertThat(AbsorbedProjections.bytesPerLayer(ds, 128, DType.BF16, null))
                .isEqualTo(128L * (576 * 192 + 128 * 576) * 2);
    }
}

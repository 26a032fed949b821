package ai.parallax.models;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.synthetic.FamilyShape;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** What each family's layers keep, checked against the configs' own numbers worked out by hand. */
class LayerProfileTest {
    private static ModelConfig reference(String name) {
        return ModelConfig.read(Path.of(System.getProperty("parallax.models"), name));
    }

    private static ModelConfig published(String shape) {
        return ModelConfig.parse(FamilyShape.named(shape).config(), shape);
    }

    @Test
    void gptOssSlidingLayersKeepOnlyTheirWindowAndFullLayersEveryPosition() {
        ModelConfig config = reference("tiny-random-gpt-oss");   // window 8, 2 KV heads of 16, 8 experts, top 4
        LayerProfile sliding = LayerProfile.of(config, 0);
        LayerProfile full = LayerProfile.of(config, 1);
        assertThat(sliding.kind()).isEqualTo("sliding attention (window 8) + MoE 4/8");
        assertThat(full.kind()).isEqualTo("full attention + MoE 4/8");
        assertThat(sliding.cacheBytes(1000)).isEqualTo(8 * 2 * 32 * 4);
        assertThat(full.cacheBytes(1000)).isEqualTo(1000 * 2 * 32 * 4);
        // The pool grows with the one full layer; the two sliding layers keep rings of 16 rows per sequence.
        assertThat(ModelLoader.kvCacheBytesPerBlock(config, 3, 16)).isEqualTo(16 * 2 * 32 * 4);
        assertThat(ModelLoader.stateBytesPerSequence(config, 3)).isEqualTo(2 * 16 * 2 * 32 * 4);
    }

    @Test
    void qwen3NextLinearLayersKeepAFixedStateAndNoKeys() {
        ModelConfig config = reference("tiny-random-qwen3-next");
        LayerProfile linear = LayerProfile.of(config, 0);
        assertThat(linear.kind()).isEqualTo("linear attention + MoE 2/8");
        assertThat(LayerProfile.of(config, 2).kind()).isEqualTo("linear attention + dense MLP");
        assertThat(LayerProfile.of(config, 3).kind()).isEqualTo("full attention + MoE 2/8");
        // Convolution window: 3 inputs of 2·2·16 + 4·24 = 160 channels; delta state: 4 heads of 16×24.
        long state = (3L * 160 + 4 * 16 * 24) * 4;
        assertThat(linear.cacheBytes(1)).isEqualTo(state);
        assertThat(linear.cacheBytes(100_000)).isEqualTo(state);
        assertThat(ModelLoader.kvCacheBytesPerBlock(config, 4, 16)).as("layers 1 and 3 only")
                .isEqualTo(2L * 16 * 2 * 64 * 4);
        assertThat(ModelLoader.stateBytesPerSequence(config, 4)).isEqualTo(2 * state);
    }

    @Test
    void deepSeekCachesTheLatentAndCountsDenseAndRoutedLayers() {
        ModelConfig config = published("deepseek-v3");
        assertThat(LayerProfile.of(config, 2).kind()).isEqualTo("MLA + dense MLP");
        assertThat(LayerProfile.of(config, 3).kind()).isEqualTo("MLA + MoE 8/256");
        // kv_lora_rank 512 + qk_rope_head_dim 64 floats, against 128 heads of (192 + 128) for full keys and values.
        long latent = LayerProfile.of(config, 3).cacheBytesPerPosition();
        assertThat(latent).isEqualTo(576 * 4);
        assertThat(128L * (192 + 128) * 4 / (double) latent).isGreaterThan(50);
        assertThat(ModelLoader.stateBytesPerSequence(config, 61)).isZero();
    }

    @Test
    void publishedQwen3NextStateAndGptOssRingsAreFixedPerSequence() {
        ModelConfig qwen = published("qwen3-next-80b-a3b");
        // 36 linear layers: a window of 3 × 8192 conv channels and 32 heads of 128×128.
        assertThat(ModelLoader.stateBytesPerSequence(qwen, 48)).isEqualTo(36L * (3 * 8192 + 32 * 128 * 128) * 4);
        assertThat(ModelLoader.kvCacheBytesPerBlock(qwen, 48, 16)).isEqualTo(12L * 16 * 2 * 512 * 4);
        ModelConfig oss = published("gpt-oss-20b");
        assertThat(ModelLoader.stateBytesPerSequence(oss, 24)).isEqualTo(12L * 256 * 2 * 512 * 4);
        assertThat(ModelLoader.kvCacheBytesPerBlock(oss, 24, 16)).isEqualTo(12L * 16 * 2 * 512 * 4);
    }

    @Test
    void expertsReadGrowWithTheBatchTowardsAll() {
        LayerProfile moe = LayerProfile.of(published("deepseek-v3"), 3);
        assertThat(moe.expertFractionRead(1)).isEqualTo(8 / 256.0);
        assertThat(moe.expertFractionRead(16)).isBetween(0.39, 0.40);   // 1 − (31/32)^16
        assertThat(LayerProfile.of(published("deepseek-v3"), 0).expertFractionRead(16)).isEqualTo(1);
    }
}

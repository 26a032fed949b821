package ai.parallax.server.scheduler;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.models.LayerProfile;
import ai.parallax.models.config.ModelConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The scheduler's per-layer cache reserve counts what a stage really allocates for each kind of layer. The expected
 * figures are worked out by hand from each model's config.json (F32 cache).
 */
class ModelFootprintTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));

    private static ModelFootprint footprint(String model, long positions, int sequences) {
        Path dir = MODELS.resolve(model);
        return ModelFootprint.of(dir, ModelConfig.read(dir), positions, sequences);
    }

    @Test
    void fullAttentionReservesKeysAndValuesForEveryPosition() {
        // tiny-random-qwen3: 2 KV heads × head_dim 8, keys and values, 4 bytes each = 128 bytes per position.
        assertThat(footprint("tiny-random-qwen3", 1024, 64).kvBytesPerLayer()).isEqualTo(128L * 1024);
    }

    @Test
    void latentAttentionReservesTheCompressedLatentNotFullKeysAndValues() {
        // tiny-random-deepseek-v3: kv_lora_rank 32 + qk_rope_head_dim 16 = 48 floats per position.
        assertThat(footprint("tiny-random-deepseek-v3", 1024, 0).kvBytesPerLayer()).isEqualTo(48L * 4 * 1024);
    }

    @Test
    void slidingLayersReserveARingPerSequenceAndFullLayersEveryPosition() {
        // tiny-random-gpt-oss: 2 KV heads × head_dim 16 × 2 × 4 = 256 bytes per position; window 8 keeps a ring of
        // 2 × 8 rows per running sequence. The reserve is the larger layer's.
        assertThat(footprint("tiny-random-gpt-oss", 1024, 8).kvBytesPerLayer()).isEqualTo(256L * 1024);
        assertThat(footprint("tiny-random-gpt-oss", 16, 64).kvBytesPerLayer()).isEqualTo(16L * 256 * 64);
    }

    @Test
    void linearAttentionLayersReserveAFixedStatePerSequenceAndNothingPerPosition() {
        Path dir = MODELS.resolve("tiny-random-qwen3-next");
        ModelConfig config = ModelConfig.read(dir);
        long state = LayerProfile.of(config, 0).stateBytesPerSequence();
        assertThat(state).as("layer 0 is a linear-attention layer").isPositive();
        // By hand: conv state (kernel 4 − 1) × conv width 160 (2 × 2 key heads × 16 + 4 value heads × 24) plus the
        // delta-rule state 4 value heads × 16 × 24, in floats.
        assertThat(state).isEqualTo((3L * 160 + 4 * 16 * 24) * 4);
        // Full-attention layers: 2 KV heads × head_dim 32 × 2 × 4 = 512 bytes per position.
        assertThat(footprint("tiny-random-qwen3-next", 1024, 0).kvBytesPerLayer()).isEqualTo(512L * 1024);
        // With few positions and many sequences the linear layers' state is the larger reserve.
        assertThat(footprint("tiny-random-qwen3-next", 1, 64).kvBytesPerLayer()).isEqualTo(Math.max(512, 64 * state));
    }
}

package ai.parallax.models.gptoss;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * YaRN's frequency schedule by its defining properties (arXiv:2309.00071 section 3.2): dimensions that turn more than
 * beta_fast times over the original context keep their frequency, those that turn fewer than beta_slow times are
 * divided by the factor, and the attention factor is 0.1·ln(factor) + 1.
 */
class YarnRopeTest {
    private static final double THETA = 150000;
    private static final int DIM = 64;

    private static double plain(int i) {
        return 1.0 / Math.pow(THETA, 2.0 * i / DIM);
    }

    /** Rotations of dimension pair i over the original context. */
    private static double rotations(int i, int context) {
        return context * plain(i) / (2 * Math.PI);
    }

    @Test
    void fastDimensionsKeepTheirFrequencyAndSlowOnesAreInterpolated() {
        YarnRope yarn = new YarnRope(32, 4096, 32, 1, false, 1);
        double[] inv = yarn.inverseFrequencies(DIM, THETA);
        for (int i = 0; i < DIM / 2; i++) {
            double r = rotations(i, 4096);
            if (r > 32 * 1.2) {
                assertThat(inv[i]).as("pair %d turns %.1f times", i, r).isCloseTo(plain(i), within(plain(i) * 1e-12));
            } else if (r < 1 / 1.2) {
                assertThat(inv[i]).as("pair %d turns %.2f times", i, r)
                        .isCloseTo(plain(i) / 32, within(plain(i) * 1e-12));
            } else {
                assertThat(inv[i]).as("pair %d in the ramp", i).isBetween(plain(i) / 32, plain(i));
            }
        }
    }

    @Test
    void truncationMovesTheRampToWholeDimensions() {
        double[] exact = new YarnRope(32, 4096, 32, 1, false, 1).inverseFrequencies(DIM, THETA);
        double[] truncated = new YarnRope(32, 4096, 32, 1, true, 1).inverseFrequencies(DIM, THETA);
        boolean differs = false;
        for (int i = 0; i < DIM / 2; i++) {
            differs |= exact[i] != truncated[i];
        }
        assertThat(differs).as("gpt-oss's truncate: false must change the schedule").isTrue();
    }

    @Test
    void attentionFactorDefaultsToTheLogOfTheFactor() {
        var node = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode()
                .put("rope_type", "yarn").put("factor", 32.0).put("original_max_position_embeddings", 4096);
        var config = ai.parallax.models.config.ModelConfig.parse(new com.fasterxml.jackson.databind.ObjectMapper()
                .createObjectNode().put("model_type", "gpt_oss").put("hidden_size", 64).put("intermediate_size", 96)
                .put("num_hidden_layers", 1).put("num_attention_heads", 4).put("vocab_size", 8), "test");
        YarnRope yarn = YarnRope.parse(node, config, "test");
        assertThat(yarn.attentionFactor()).isCloseTo(0.1 * Math.log(32) + 1, within(1e-15));
        assertThat(yarn.truncate()).as("transformers' default").isTrue();
    }
}

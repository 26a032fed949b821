package ai.parallax.models.deepseek;

import ai.parallax.models.config.ModelConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** YaRN's frequencies and scales, worked by hand from the definitions for the tiny models' settings. */
class YarnScalingTest {

    private static DeepSeekConfig config(String name) {
        Path dir = Path.of(System.getProperty("parallax.models")).resolve(name);
        return DeepSeekConfig.parse(ModelConfig.read(dir), name);
    }

    /**
     * Rotary dim 16, theta 1e4, factor 40, original context 4096, beta 32/1: the correction range is
     * [floor(16·ln(4096/(32·2π)) / (2·ln 1e4)), ceil(16·ln(4096/(2π)) / (2·ln 1e4))] = [floor 2.62, ceil 5.63] = [2, 6].
     * Frequencies 0..2 are kept, 6..7 divided by 40, and frequency 4 sits half way along the ramp.
     */
    @Test
    void frequenciesBlendFromKeptToInterpolatedOverTheCorrectionRange() {
        YarnScaling yarn = config("tiny-random-deepseek-v3").yarn();
        double[] inv = yarn.inverseFrequencies(16, 10000);
        for (int i : new int[] {0, 1, 2}) {
            assertThat(inv[i]).isCloseTo(Math.pow(10000, -2.0 * i / 16), within(1e-15));
        }
        for (int i : new int[] {6, 7}) {
            assertThat(inv[i]).isCloseTo(Math.pow(10000, -2.0 * i / 16) / 40, within(1e-15));
        }
        double plain = Math.pow(10000, -8.0 / 16);
        assertThat(inv[4]).isCloseTo(0.5 * plain + 0.5 * plain / 40, within(1e-15));
    }

    @Test
    void attentionFactorAndSoftmaxScaleUseBothMscales() {
        DeepSeekConfig ds = config("tiny-random-deepseek-v3");
        // (0.1·1.0·ln 40 + 1) / (0.1·0.8·ln 40 + 1)
        assertThat(ds.yarn().attentionFactor()).isCloseTo(1.0569662567531275, within(1e-12));
        // (24 + 16)^-0.5 · (0.1·0.8·ln 40 + 1)²
        double m = 0.08 * Math.log(40) + 1;
        assertThat(ds.softmaxScale()).isCloseTo(m * m / Math.sqrt(40), within(1e-12));
    }

    /** Kimi-K2's settings: beta_fast = beta_slow = 1 collapses the range; mscale = mscale_all_dim = 1. */
    @Test
    void equalBetasAndEqualMscalesAsInKimiK2() {
        DeepSeekConfig ds = config("tiny-random-deepseek-v3-fp8");
        assertThat(ds.yarn().attentionFactor()).isEqualTo(1.0);
        assertThat(ds.softmaxScale()).isCloseTo(0.2617215999259001, within(1e-12));
        double[] inv = ds.yarn().inverseFrequencies(16, 50000);
        // One rotation over 4096 positions: dim 16·ln(4096/2π)/(2·ln 5e4) = 4.79, so low = 4, high = 5.
        assertThat(inv[3]).isCloseTo(Math.pow(50000, -6.0 / 16), within(1e-15));
        assertThat(inv[5]).isCloseTo(Math.pow(50000, -10.0 / 16) / 32, within(1e-15));
    }
}

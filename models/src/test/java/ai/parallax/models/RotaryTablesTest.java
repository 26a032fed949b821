package ai.parallax.models;

import ai.parallax.models.config.RopeScaling;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class RotaryTablesTest {

    @Test
    void defaultFrequenciesFollowThetaToTheMinusTwoIOverD() {
        double[] inv = RotaryTables.inverseFrequencies(8, 10000, RopeScaling.NONE);
        assertThat(inv).containsExactly(new double[] {1.0, 0.1, 0.01, 0.001}, within(1e-15));
    }

    @Test
    void llama31ScalingKeepsHighFrequenciesAndDividesLowOnesByTheFactor() {
        // Llama 3.1 8B: head_dim 128, theta 500000, factor 8, low 1, high 4, original context 8192.
        RopeScaling llama31 = new RopeScaling("llama3", 8, 1, 4, 8192);
        double[] plain = RotaryTables.inverseFrequencies(128, 500000, RopeScaling.NONE);
        double[] scaled = RotaryTables.inverseFrequencies(128, 500000, llama31);
        for (int i = 0; i < 64; i++) {
            double wavelength = 2 * Math.PI / plain[i];
            if (wavelength < 8192 / 4.0) {          // shorter than 2048 positions: unchanged
                assertThat(scaled[i]).isEqualTo(plain[i]);
            } else if (wavelength > 8192 / 1.0) {   // longer than the original context: divided by 8
                assertThat(scaled[i]).isCloseTo(plain[i] / 8, within(1e-18));
            } else {                                // in between: strictly between the two
                assertThat(scaled[i]).isStrictlyBetween(plain[i] / 8, plain[i]);
            }
        }
        assertThat(scaled[0]).isEqualTo(1.0);
        assertThat(scaled[63]).isCloseTo(Math.pow(500000, -126.0 / 128) / 8, within(1e-18));
    }

    @Test
    void linearScalingDividesEveryFrequency() {
        double[] inv = RotaryTables.inverseFrequencies(4, 10000, new RopeScaling("linear", 4, 0, 0, 0));
        assertThat(inv).containsExactly(new double[] {0.25, 0.0025}, within(1e-15));
    }
}

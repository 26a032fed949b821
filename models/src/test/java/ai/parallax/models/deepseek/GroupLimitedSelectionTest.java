package ai.parallax.models.deepseek;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * DeepSeek-V3's routing on hand-worked cases. Eight experts in four groups of two, with sigmoid scores
 *
 * <pre>
 * group 0: 0.90 0.10   group 1: 0.60 0.59   group 2: 0.80 0.05   group 3: 0.30 0.25
 * </pre>
 *
 * and a correction bias of +0.55 on expert 6 only. Biased group scores (sum of the top two) are 1.00, 1.19, 0.85 and
 * 1.10, so the two kept groups are 1 and 3; among their experts the top three biased scores are experts 6 (0.85),
 * 2 (0.6) and 3 (0.59). A global top three would have taken experts 0, 4 and 6.
 */
class GroupLimitedSelectionTest {
    private static final double[] SCORES = {0.90, 0.10, 0.60, 0.59, 0.80, 0.05, 0.30, 0.25};
    private static final float[] BIAS = {0, 0, 0, 0, 0, 0, 0.55f, 0};

    private static float[] logits(double... scores) {
        float[] logits = new float[scores.length];
        for (int e = 0; e < scores.length; e++) {
            logits[e] = (float) Math.log(scores[e] / (1 - scores[e]));
        }
        return logits;
    }

    @Test
    void expertsComeFromTheBestGroupsAndWeightsAreUnbiasedScoresNormalisedAndScaled() {
        GroupLimitedSelection selection = new GroupLimitedSelection(BIAS, 4, 2, 3, true, 2.5);
        int[] chosen = new int[3];
        double[] weights = new double[3];
        selection.choose(logits(SCORES), 0, chosen, weights);
        assertThat(chosen).containsExactly(6, 2, 3);
        // The bias steered expert 6 in, but its weight is its own score 0.30: 0.30, 0.60, 0.59 over 1.49, × 2.5.
        assertThat(weights[0]).isCloseTo(0.30 / 1.49 * 2.5, within(1e-6));
        assertThat(weights[1]).isCloseTo(0.60 / 1.49 * 2.5, within(1e-6));
        assertThat(weights[2]).isCloseTo(0.59 / 1.49 * 2.5, within(1e-6));
    }

    @Test
    void withoutNormalisationWeightsAreScaledScores() {
        GroupLimitedSelection selection = new GroupLimitedSelection(BIAS, 4, 2, 3, false, 2.5);
        int[] chosen = new int[3];
        double[] weights = new double[3];
        selection.choose(logits(SCORES), 0, chosen, weights);
        assertThat(chosen).containsExactly(6, 2, 3);
        assertThat(weights).containsExactly(new double[] {0.75, 1.5, 1.475}, within(1e-6));
    }

    @Test
    void oneGroupIsPlainTopKOfBiasedScores() {
        // Kimi-K2: n_group = topk_group = 1. Biased scores 0.9, 0.1, 0.6, 0.59, 0.8, 0.05, 0.85, 0.25.
        GroupLimitedSelection selection = new GroupLimitedSelection(BIAS, 1, 1, 3, true, 1.0);
        int[] chosen = new int[3];
        double[] weights = new double[3];
        selection.choose(logits(SCORES), 0, chosen, weights);
        assertThat(chosen).containsExactly(0, 6, 4);
        assertThat(weights).containsExactly(new double[] {0.9 / 2.0, 0.3 / 2.0, 0.8 / 2.0}, within(1e-6));
    }

    @Test
    void readsTheRowItIsGiven() {
        GroupLimitedSelection selection = new GroupLimitedSelection(BIAS, 4, 2, 3, true, 2.5);
        float[] two = new float[16];
        System.arraycopy(logits(SCORES), 0, two, 8, 8);
        int[] chosen = new int[3];
        selection.choose(two, 8, chosen, new double[3]);
        assertThat(chosen).containsExactly(6, 2, 3);
    }

    @Test
    void impossibleShapesAreRefused() {
        assertThatThrownBy(() -> new GroupLimitedSelection(BIAS, 3, 1, 2, true, 1.0))
                .hasMessageContaining("8 experts in 3 groups");
        assertThatThrownBy(() -> new GroupLimitedSelection(BIAS, 4, 1, 3, true, 1.0))
                .hasMessageContaining("top-3 of the 2 experts");
    }
}

package ai.parallax.runtime.sampling;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class SamplerTest {
    private static final float[] LOGITS = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};

    private static SamplingParams params(double temperature, int topK, double topP, double minP, double rep,
                                         long seed) {
        return new SamplingParams(temperature, topK, topP, minP, rep, 0, 0, seed);
    }

    private static Map<Integer, Integer> histogram(SamplingParams p, int draws) {
        Sampler sampler = new Sampler(p, LOGITS.length);
        Map<Integer, Integer> counts = new HashMap<>();
        for (int i = 0; i < draws; i++) {
            int token = sampler.sample(LOGITS, 0);
            sampler.accept(token);
            counts.merge(token, 1, Integer::sum);
        }
        return counts;
    }

    @Test
    void greedyPicksTheLargestLogit() {
        assertThat(new Sampler(SamplingParams.GREEDY, LOGITS.length).sample(LOGITS, 0)).isEqualTo(1);
    }

    @Test
    void topKOneIsGreedy() {
        assertThat(histogram(params(1.5, 1, 1, 0, 1, 7), 200)).containsOnlyKeys(1);
    }

    @Test
    void topKTwoKeepsOnlyTheTwoBest() {
        assertThat(histogram(params(1.0, 2, 1, 0, 1, 7), 2000)).containsOnlyKeys(1, 4);
    }

    @Test
    void topPKeepsTheSmallestPrefixReachingP() {
        // softmax(LOGITS): p(1)≈0.402, p(4)≈0.363, p(2)≈0.148, so top_p 0.7 keeps {1, 4} (0.765)
        // and top_p 0.8 needs token 2 as well (0.913).
        assertThat(histogram(params(1.0, 0, 0.7, 0, 1, 11), 3000)).containsOnlyKeys(1, 4);
        assertThat(histogram(params(1.0, 0, 0.8, 0, 1, 11), 3000)).containsOnlyKeys(1, 4, 2);
    }

    @Test
    void minPDropsTokensBelowAFractionOfTheBest() {
        // p(2)/p(1) = e^-1 ≈ 0.37; p(0)/p(1) = e^-2 ≈ 0.135.
        assertThat(histogram(params(1.0, 0, 1, 0.3, 1, 5), 3000)).containsOnlyKeys(1, 4, 2);
    }

    @Test
    void samplingFollowsTheSoftmaxDistribution() {
        int draws = 40_000;
        Map<Integer, Integer> counts = histogram(params(1.0, 0, 1, 0, 1, 3), draws);
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l);
        }
        for (int i = 0; i < LOGITS.length; i++) {
            double expected = Math.exp(LOGITS[i]) / z;
            assertThat(counts.getOrDefault(i, 0) / (double) draws).as("frequency of token %d", i)
                    .isCloseTo(expected, within(0.01));
        }
    }

    @Test
    void sameSeedGivesSameTokens() {
        Sampler a = new Sampler(params(1.0, 0, 1, 0, 1, 42), LOGITS.length);
        Sampler b = new Sampler(params(1.0, 0, 1, 0, 1, 42), LOGITS.length);
        for (int i = 0; i < 100; i++) {
            int token = a.sample(LOGITS, 0);
            assertThat(token).isEqualTo(b.sample(LOGITS, 0));
            a.accept(token);
            b.accept(token);
        }
    }

    /** A pick made elsewhere by the sampler's rule (a cluster's last stage) is the pick sample() makes. */
    @Test
    void tokensPickedByTheRuleAreTheTokensSampleGives() {
        for (SamplingParams p : new SamplingParams[] {params(0.7, 0, 1, 0, 1, 9), params(1.3, 3, 0.9, 0.05, 1, 9),
                SamplingParams.GREEDY}) {
            Sampler here = new Sampler(p, LOGITS.length);
            Sampler there = new Sampler(p, LOGITS.length);
            TokenPicker picker = new TokenPicker(LOGITS.length);
            Map<Integer, Integer> seen = new HashMap<>();
            for (int i = 0; i < 500; i++) {
                int token = here.sample(LOGITS, 0);
                assertThat(picker.pick(LOGITS, 0, there.rule(-1))).as("%s step %d", p, i).isEqualTo(token);
                here.accept(token);
                there.accept(token);
                seen.merge(token, 1, Integer::sum);
            }
            if (!p.isGreedy()) {
                assertThat(seen).as("draws vary from step to step").hasSizeGreaterThan(1);
            }
        }
    }

    /** A step that failed and runs again (a pipeline rebuilt) samples with the draw it had, not a new one. */
    @Test
    void theDrawStaysUntilATokenIsAccepted() {
        Sampler sampler = new Sampler(params(1.0, 0, 1, 0, 1, 21), LOGITS.length);
        SamplingRule first = sampler.rule(2);
        assertThat(sampler.rule(2)).isEqualTo(first);
        assertThat(first.logprobs()).isEqualTo(2);
        sampler.accept(1);
        assertThat(sampler.rule(2).draw()).isNotEqualTo(first.draw());
    }

    @Test
    void aSamplerWithPenaltiesGivesNoRule() {
        Sampler sampler = new Sampler(params(1.0, 0, 1, 0, 1.2, 21), LOGITS.length);
        assertThat(sampler.penalises()).isTrue();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> sampler.rule(-1))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("penalties");
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        // Token 1 (3.0) seen: 3.0 / 2 = 1.5 < 2.9, so greedy moves to token 4.
        Sampler sampler = new Sampler(params(0, 0, 1, 0, 2.0, 1), LOGITS.length);
        sampler.acceptPrompt(new int[] {1}, 1);
        assertThat(sampler.sample(LOGITS, 0)).isEqualTo(4);

        float[] negative = {-1f, -1.5f};
        Sampler neg = new Sampler(params(0, 0, 1, 0, 2.0, 1), 2);
        neg.accept(0); // -1 * 2 = -2 < -1.5
        assertThat(neg.sample(negative, 0)).isEqualTo(1);
    }

    @Test
    void presenceAndFrequencyPenaltiesCountOutputTokens() {
        Sampler sampler = new Sampler(new SamplingParams(0, 0, 1, 0, 1, 0.04, 0.04, 1L), LOGITS.length);
        sampler.accept(1); // 3.0 - 0.04 - 0.04 = 2.92 > 2.9
        assertThat(sampler.sample(LOGITS, 0)).isEqualTo(1);
        sampler.accept(1); // 3.0 - 0.04 - 0.08 = 2.88 < 2.9
        assertThat(sampler.sample(LOGITS, 0)).isEqualTo(4);
    }

    @Test
    void logprobsAreLogSoftmaxWithSortedAlternatives() {
        TokenLogprob lp = Sampler.logprobs(LOGITS, 0, LOGITS.length, 2, 3);
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l);
        }
        assertThat(lp.logprob()).isCloseTo(2.0 - Math.log(z), within(1e-6));
        assertThat(lp.top()).extracting(TokenLogprob.Alternative::token).containsExactly(1, 4, 2);
        assertThat(lp.top().get(0).logprob()).isCloseTo(3.0 - Math.log(z), within(1e-6));
    }

    @Test
    void invalidParametersAreRefusedWithTheirName() {
        assertThatThrownBy(() -> params(-1, 0, 1, 0, 1, 1)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> params(1, 0, 0, 0, 1, 1)).hasMessageContaining("top_p");
        assertThatThrownBy(() -> params(1, 0, 1, 2, 1, 1)).hasMessageContaining("min_p");
        assertThatThrownBy(() -> params(1, 0, 1, 0, 0, 1)).hasMessageContaining("repetition_penalty");
    }
}

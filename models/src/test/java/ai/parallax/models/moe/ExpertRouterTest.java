package ai.parallax.models.moe;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** The routing decision: softmax over all experts, top k, optional renormalisation, grouping by expert. */
class ExpertRouterTest {

    @Test
    void topKOfSoftmaxRenormalisedWhenAsked() {
        // Token 0 prefers experts 2 then 0; token 1 prefers 3 then 2.
        float[] logits = {1f, 0f, 2f, -1f,
                          0f, -3f, 1f, 2f};
        ExpertRouter renormalised = new ExpertRouter(4, 2, true);
        renormalised.route(logits, 2);
        double e1 = Math.exp(1);
        // Renormalised, only the difference of the two chosen logits matters: e^2 / (e^2 + e^1).
        assertThat(weightOf(renormalised, 2, 0)).isCloseTo(e1 / (e1 + 1), within(1e-6));
        assertThat(weightOf(renormalised, 0, 0)).isCloseTo(1 / (e1 + 1), within(1e-6));

        ExpertRouter plain = new ExpertRouter(4, 2, false);
        plain.route(logits, 2);
        double all = Math.exp(1) + Math.exp(0) + Math.exp(2) + Math.exp(-1);
        assertThat(weightOf(plain, 2, 0)).isCloseTo(Math.exp(2) / all, within(1e-6));
        assertThat(weightOf(plain, 0, 0)).isCloseTo(Math.exp(1) / all, within(1e-6));
    }

    @Test
    void entriesAreGroupedByExpertWithTokensAscending() {
        float[] logits = {5f, 4f, 0f,   // token 0 → experts 0, 1
                          0f, 4f, 5f,   // token 1 → experts 2, 1
                          5f, 0f, 4f};  // token 2 → experts 0, 2
        ExpertRouter router = new ExpertRouter(3, 2, true);
        router.route(logits, 3);
        assertThat(tokensOf(router, 0)).containsExactly(0, 2);
        assertThat(tokensOf(router, 1)).containsExactly(0, 1);
        assertThat(tokensOf(router, 2)).containsExactly(1, 2);
        // A smaller batch afterwards reuses the arrays and sees only its own tokens.
        router.route(logits, 1);
        assertThat(tokensOf(router, 0)).containsExactly(0);
        assertThat(tokensOf(router, 2)).isEmpty();
    }

    private static int[] tokensOf(ExpertRouter router, int expert) {
        return java.util.Arrays.copyOfRange(router.tokens(), router.start(expert), router.end(expert));
    }

    private static double weightOf(ExpertRouter router, int expert, int token) {
        for (int i = router.start(expert); i < router.end(expert); i++) {
            if (router.tokens()[i] == token) {
                return router.weights()[i];
            }
        }
        throw new AssertionError("token " + token + " not routed to expert " + expert);
    }
}

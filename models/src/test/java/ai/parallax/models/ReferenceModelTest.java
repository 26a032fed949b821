package ai.parallax.models;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Every model in ../shared/models with a dtype the engine covers must match its float64 reference: the argmax at
 * every position, the stored logits within 1e-3, and the greedy continuation token for token.
 */
class ReferenceModelTest {
    private static final double LOGIT_TOLERANCE = 1e-3;
    private static Ops ops;

    @BeforeAll
    static void startBackend() {
        ops = new SimdOps(2);
    }

    @AfterAll
    static void stopBackend() {
        ops.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "stories260K-bf16", "stories260K-f16", "tiny-random-qwen2",
            "tiny-random-qwen3", "tiny-random-qwen3-fp8", "tiny-random-qwen3-moe",
            "tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8", "tiny-random-gpt-oss",
            "tiny-random-qwen3-next"})
    void logitsAndArgmaxMatchReferenceAtEveryPosition(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512)) {
            int vocab = model.config().vocabSize();
            for (ReferenceCase c : ReferenceCase.read(dir)) {
                int n = c.inputIds().length;
                try (KvCache cache = model.newKvCache(n)) {
                    Tensor logits = model.forward(c.inputIds(), n, 0, cache, true);
                    float[] host = new float[n * vocab];
                    ops.copyToHost(logits, host, 0);
                    for (int p = 0; p < n; p++) {
                        assertThat(argmax(host, p * vocab, vocab)).as("%s argmax at position %d", name, p)
                                .isEqualTo(c.argmaxPerPosition()[p]);
                        for (int i = 0; i < 16; i++) {
                            assertThat((double) host[p * vocab + i]).as("%s logit %d at position %d", name, i, p)
                                    .isCloseTo(c.logitsFirst16PerPosition()[p][i], within(LOGIT_TOLERANCE));
                        }
                    }
                    int lastRow = (n - 1) * vocab;
                    for (int i = 0; i < c.top5Ids().length; i++) {
                        assertThat((double) host[lastRow + c.top5Ids()[i]]).as("%s top-5 logit of %d", name,
                                c.top5Ids()[i]).isCloseTo(c.top5Logits()[i], within(LOGIT_TOLERANCE));
                    }
                    double sum = 0;
                    double sumSquares = 0;
                    for (int i = 0; i < vocab; i++) {
                        sum += host[lastRow + i];
                        sumSquares += (double) host[lastRow + i] * host[lastRow + i];
                    }
                    // Sums over the whole vocabulary accumulate the float32 engine's rounding (a few 1e-6 per
                    // logit, often of one sign), so they get a relative tolerance: 1e-5 of the value, plus 1e-3.
                    assertThat(sum).as("%s sum of last logits", name).isCloseTo(c.lastLogitsSum(),
                            within(1e-3 + 1e-5 * Math.abs(c.lastLogitsSum())));
                    assertThat(Math.sqrt(sumSquares)).as("%s L2 norm of last logits", name)
                            .isCloseTo(c.lastLogitsL2(), within(1e-3 + 1e-5 * c.lastLogitsL2()));
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "stories260K-bf16", "stories260K-f16", "tiny-random-qwen2",
            "tiny-random-qwen3", "tiny-random-qwen3-fp8", "tiny-random-qwen3-moe",
            "tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8", "tiny-random-gpt-oss",
            "tiny-random-qwen3-next"})
    void greedyContinuationMatchesReference(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512)) {
            int vocab = model.config().vocabSize();
            float[] host = new float[vocab];
            for (ReferenceCase c : ReferenceCase.read(dir)) {
                int n = c.inputIds().length;
                int[] expected = c.greedyContinuation();
                try (KvCache cache = model.newKvCache(n + expected.length)) {
                    Tensor logits = model.forward(c.inputIds(), n, 0, cache, false);
                    int[] produced = new int[expected.length];
                    for (int i = 0; i < expected.length; i++) {
                        ops.copyToHost(logits, host, 0);
                        produced[i] = argmax(host, 0, vocab);
                        logits = model.forward(new int[] {produced[i]}, 1, n + i, cache, false);
                    }
                    assertThat(produced).as("%s greedy continuation of %s", name,
                            java.util.Arrays.toString(c.inputIds())).containsExactly(expected);
                }
            }
        }
    }

    static int argmax(float[] x, int offset, int length) {
        int best = 0;
        for (int i = 1; i < length; i++) {
            if (x[offset + i] > x[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}

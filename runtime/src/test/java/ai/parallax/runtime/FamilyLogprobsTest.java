package ai.parallax.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.ModelLoader;
import ai.parallax.runtime.sampling.SamplingParams;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The log-probabilities that {@code generate --logprobs} reports, on every large-family reference model: at each
 * step of the greedy continuation, the chosen token's log-probability is the log-softmax (in double) of the logits
 * of a fresh whole-sequence forward pass over everything before it, so the cached decode path, the sampler and the
 * softmax agree with a computation that shares none of them; and at the first step the alternatives differ as the
 * reference implementation's top-5 logits do.
 */
class FamilyLogprobsTest {

    @ParameterizedTest
    @ValueSource(strings = {"tiny-random-gpt-oss", "tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8",
            "tiny-random-qwen3-next"})
    void logprobsOfEveryStepAreTheLogSoftmaxOfTheLogits(String name) throws IOException {
        Path dir = Path.of(System.getProperty("parallax.models"), name);
        JsonNode cases = new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).get("cases");
        try (Ops ops = new SimdOps(2); CausalLanguageModel model = ModelLoader.load(dir, ops, 128)) {
            int vocab = model.config().vocabSize();
            Generator generator = new Generator(model, ops, null, Set.of());
            for (JsonNode c : cases) {
                int[] prompt = ints(c.get("input_ids"));
                int steps = c.get("greedy_continuation").size();
                GenerationResult result = generator.generate(new GenerationRequest(prompt, steps,
                        SamplingParams.GREEDY, List.of(), Set.of(), false, 5), Generator.TextListener.NONE);
                int[] generated = result.generatedIds();
                assertThat(generated).as(name).containsExactly(ints(c.get("greedy_continuation")));

                float[] logits = new float[vocab];
                for (int t = 0; t < steps; t++) {
                    int[] context = Arrays.copyOf(prompt, prompt.length + t);
                    System.arraycopy(generated, 0, context, prompt.length, t);
                    try (KvCache cache = model.newKvCache(context.length)) {
                        Tensor last = model.forward(context, context.length, 0, cache, false);
                        ops.copyToHost(last, logits, 0);
                    }
                    TokenLogprob step = result.logprobs().get(t);
                    assertThat(step.token()).isEqualTo(generated[t]);
                    assertThat(step.logprob()).as("%s step %d", name, t)
                            .isCloseTo(logSoftmax(logits, generated[t]), within(1e-4));
                    for (TokenLogprob.Alternative alternative : step.top()) {
                        assertThat(alternative.logprob()).as("%s step %d alternative %d", name, t,
                                alternative.token()).isCloseTo(logSoftmax(logits, alternative.token()), within(1e-4));
                    }
                }
                TokenLogprob first = result.logprobs().get(0);
                JsonNode top5 = c.get("last_logits_top5");
                for (int i = 0; i < 5; i++) {
                    assertThat(first.top().get(i).token()).isEqualTo(top5.get(i).get(0).asInt());
                    assertThat(first.top().get(i).logprob() - first.top().get(0).logprob())
                            .as("%s: gap of the reference's %d-th logit", name, i)
                            .isCloseTo(top5.get(i).get(1).asDouble() - top5.get(0).get(1).asDouble(), within(1e-3));
                }
            }
        }
    }

    private static double logSoftmax(float[] logits, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        return logits[token] - max - Math.log(sum);
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}

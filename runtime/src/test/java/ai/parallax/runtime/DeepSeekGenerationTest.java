package ai.parallax.runtime;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.ModelLoader;
import ai.parallax.runtime.sampling.SamplingParams;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Generation with the KV cache on the DeepSeek reference models (no tokenizer: ids in, ids out): the greedy
 * continuation of every reference prompt, decoded step by step over the latent cache, is the reference's (which
 * re-ran the whole sequence each step), and the first step's top-5 log-probabilities differ exactly as the
 * reference's last logits do.
 */
class DeepSeekGenerationTest {

    @ParameterizedTest
    @ValueSource(strings = {"tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8"})
    void greedyContinuationAndLogprobsMatchReference(String name) throws IOException {
        Path dir = Path.of(System.getProperty("parallax.models"), name);
        JsonNode cases = new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).get("cases");
        try (Ops ops = new SimdOps(2); CausalLanguageModel model = ModelLoader.load(dir, ops, 128)) {
            Generator generator = new Generator(model, ops, null, Set.of());
            for (JsonNode c : cases) {
                int[] prompt = ints(c.get("input_ids"));
                int[] continuation = ints(c.get("greedy_continuation"));
                GenerationResult result = generator.generate(new GenerationRequest(prompt, continuation.length,
                        SamplingParams.GREEDY, List.of(), Set.of(), false, 5), Generator.TextListener.NONE);
                assertThat(result.generatedIds()).as("%s continuation of %d tokens", name, prompt.length)
                        .containsExactly(continuation);
                TokenLogprob first = result.logprobs().get(0);
                JsonNode top5 = c.get("last_logits_top5");
                for (int i = 0; i < 5; i++) {
                    assertThat(first.top().get(i).token()).isEqualTo(top5.get(i).get(0).asInt());
                    assertThat(first.top().get(i).logprob() - first.top().get(0).logprob())
                            .as("%s logprob gap of the %d-th alternative", name, i)
                            .isCloseTo(top5.get(i).get(1).asDouble() - top5.get(0).get(1).asDouble(), within(1e-3));
                }
            }
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}

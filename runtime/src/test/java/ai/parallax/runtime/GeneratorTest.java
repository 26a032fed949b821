package ai.parallax.runtime;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.GenerationResult.FinishReason;
import ai.parallax.runtime.sampling.SamplingParams;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.Ops;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Generation on the real stories260K model against its float64 reference story. */
class GeneratorTest {
    /** expected.json's greedy continuation of the prompt [1] (BOS): "Once upon a time, there was a little girl…". */
    private static final int[] REFERENCE_STORY = {403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
            426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
            261, 370, 432, 352};
    private static Ops ops;
    private static CausalLanguageModel model;
    private static Tokenizer tokenizer;
    private static Generator generator;

    @BeforeAll
    static void load() throws IOException {
        Path dir = Path.of(System.getProperty("parallax.models"), "stories260K");
        ops = new SimdOps(2);
        model = ModelLoader.load(dir, ops, 512);
        tokenizer = Tokenizer.load(dir);
        generator = new Generator(model, ops, tokenizer, Set.of(2), 3);
    }

    @AfterAll
    static void close() {
        model.close();
        ops.close();
    }

    private static GenerationRequest request(int maxTokens, SamplingParams sampling, List<String> stops,
                                             Set<Integer> stopIds, int logprobs) {
        return new GenerationRequest(new int[] {1}, maxTokens, sampling, stops, stopIds, false, logprobs);
    }

    @Test
    void greedyGenerationReproducesTheReferenceStoryAndStreamsItsText() {
        StringBuilder streamed = new StringBuilder();
        GenerationResult result = generator.generate(GenerationRequest.greedy(new int[] {1}, REFERENCE_STORY.length),
                streamed::append);
        assertThat(result.generatedIds()).containsExactly(REFERENCE_STORY);
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(result.text()).isEqualTo(tokenizer.decode(REFERENCE_STORY, true))
                .startsWith("Once upon a time, there was a little girl named Lily.");
        assertThat(streamed).hasToString(result.text());
    }

    @Test
    void aChunkedPrefillGivesTheSameContinuationAsAWholeOne() {
        int[] prompt = Arrays.copyOf(REFERENCE_STORY, 12);
        int[] withBos = new int[prompt.length + 1];
        withBos[0] = 1;
        System.arraycopy(prompt, 0, withBos, 1, prompt.length);
        Generator whole = new Generator(model, ops, tokenizer, Set.of(2), 512);
        GenerationResult a = whole.generate(GenerationRequest.greedy(withBos, 20), Generator.TextListener.NONE);
        GenerationResult b = generator.generate(GenerationRequest.greedy(withBos, 20), Generator.TextListener.NONE);
        assertThat(b.generatedIds()).containsExactly(a.generatedIds());
        assertThat(a.generatedIds()).startsWith(Arrays.copyOfRange(REFERENCE_STORY, 12, 32));
    }

    @Test
    void aStopStringEndsGenerationAndIsNotReturned() {
        StringBuilder streamed = new StringBuilder();
        GenerationResult result = generator.generate(
                request(100, SamplingParams.GREEDY, List.of("Lily"), Set.of(), -1), streamed::append);
        assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(result.text()).isEqualTo("Once upon a time, there was a little girl named ");
        assertThat(streamed).hasToString(result.text());
    }

    @Test
    void aStopTokenEndsGenerationBeforeIt() {
        // 432 is the fifth token of the story (",").
        GenerationResult result = generator.generate(
                request(100, SamplingParams.GREEDY, List.of(), Set.of(432), -1), Generator.TextListener.NONE);
        assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(result.generatedIds()).containsExactly(403, 407, 261, 378);
    }

    @Test
    void maxTokensEndsGenerationWithLength() {
        GenerationResult result = generator.generate(request(7, SamplingParams.GREEDY, List.of(), Set.of(), -1),
                Generator.TextListener.NONE);
        assertThat(result.generatedIds()).containsExactly(Arrays.copyOf(REFERENCE_STORY, 7));
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(result.timings().generatedTokens()).isEqualTo(7);
        assertThat(result.timings().promptTokens()).isEqualTo(1);
    }

    @Test
    void greedyLogprobsPutTheChosenTokenFirst() {
        GenerationResult result = generator.generate(request(5, SamplingParams.GREEDY, List.of(), Set.of(), 3),
                Generator.TextListener.NONE);
        assertThat(result.logprobs()).hasSize(5);
        for (TokenLogprob lp : result.logprobs()) {
            assertThat(lp.top()).hasSize(3);
            assertThat(lp.top().get(0).token()).isEqualTo(lp.token());
            assertThat(lp.logprob()).isNegative().isEqualTo(lp.top().get(0).logprob());
            assertThat(lp.top().get(1).logprob()).isLessThanOrEqualTo(lp.top().get(0).logprob());
        }
        // The reference's top-2 logits for the first step are 17.02 and 15.41: their logprob gap is the logit gap.
        TokenLogprob first = result.logprobs().get(0);
        assertThat(first.top().get(0).logprob() - first.top().get(1).logprob())
                .isCloseTo(17.023515199840812 - 15.406212951091772, org.assertj.core.api.Assertions.within(1e-3));
    }

    @Test
    void aSeedMakesSamplingReproducible() {
        SamplingParams hot = new SamplingParams(1.0, 0, 1, 0, 1, 0, 0, 1234L);
        GenerationResult a = generator.generate(request(30, hot, List.of(), Set.of(), -1), Generator.TextListener.NONE);
        GenerationResult b = generator.generate(request(30, hot, List.of(), Set.of(), -1), Generator.TextListener.NONE);
        GenerationResult c = generator.generate(request(30, hot.withSeed(99), List.of(), Set.of(), -1),
                Generator.TextListener.NONE);
        assertThat(b.generatedIds()).containsExactly(a.generatedIds());
        assertThat(c.generatedIds()).isNotEqualTo(a.generatedIds());
    }
}

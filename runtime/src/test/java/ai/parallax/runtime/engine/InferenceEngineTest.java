package ai.parallax.runtime.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.GenerationResult.FinishReason;
import ai.parallax.runtime.Generator;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.Ops;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The serving engine on real models. The reference for every output is the single-sequence {@link Generator},
 * which runs one sequence over a contiguous cache and shares no scheduling code with the engine.
 */
class InferenceEngineTest {
    private static Ops ops;

    @BeforeAll
    static void start() {
        ops = new SimdOps(2);
    }

    @AfterAll
    static void stop() {
        ops.close();
    }

    private static Path model(String name) {
        return Path.of(System.getProperty("parallax.models"), name);
    }

    /** 16 different prompts drawn from the vocabulary, of lengths 1 to 40. */
    private static List<int[]> prompts(int vocab, int count) {
        Random random = new Random(7);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] p = new int[1 + random.nextInt(40)];
            p[0] = 1;
            for (int j = 1; j < p.length; j++) {
                p[j] = 3 + random.nextInt(Math.min(vocab, 500) - 3);
            }
            prompts.add(p);
        }
        return prompts;
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "tiny-random-qwen3", "tiny-random-deepseek-v3", "tiny-random-gpt-oss",
            "tiny-random-qwen3-next"})
    void greedyRequestGivesTheSameTokensAloneOrAmongFifteenOthers(String name) throws Exception {
        try (CausalLanguageModel model = ModelLoader.load(model(name), ops, 512)) {
            int vocab = model.config().vocabSize();
            List<int[]> prompts = prompts(vocab, 16);
            Generator alone = new Generator(model, ops, null, Set.of());
            List<int[]> expected = new ArrayList<>();
            for (int[] p : prompts) {
                expected.add(alone.generate(GenerationRequest.greedy(p, 24), Generator.TextListener.NONE)
                        .generatedIds());
            }
            // Prefill chunks of 16 make the long prompts span several steps, mixed with the others' decodes.
            EngineConfig config = new EngineConfig(4, 512, 16, 64, 64);
            // Qwen3-Next's linear-attention layers get one recurrent state slot per running sequence.
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 512, 4,
                    config.maxRunning()), null, Set.of(), config).start()) {
                List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
                for (int[] p : prompts) {
                    results.add(submit(engine, GenerationRequest.greedy(p, 24)));
                }
                for (int i = 0; i < prompts.size(); i++) {
                    GenerationResult r = results.get(i).get(60, TimeUnit.SECONDS);
                    assertThat(r.generatedIds()).as("%s request %d", name, i).containsExactly(expected.get(i));
                    assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
                }
                awaitIdle(engine);
                assertThat(engine.stats().kvBlocksUsed()).as("every block is back").isZero();
                assertThat(engine.stats().completed()).isEqualTo(16);
            }
        }
    }

    @Test
    void tooSmallCachePreemptsAndStillCompletesEveryRequestCorrectly() throws Exception {
        try (CausalLanguageModel model = ModelLoader.load(model("stories260K"), ops, 512)) {
            List<int[]> prompts = prompts(model.config().vocabSize(), 8);
            Generator alone = new Generator(model, ops, null, Set.of());
            // The model serves one step at a time: the reference runs before the engine starts.
            List<int[]> expected = new ArrayList<>();
            for (int[] p : prompts) {
                expected.add(alone.generate(GenerationRequest.greedy(p, 32), Generator.TextListener.NONE)
                        .generatedIds());
            }
            // 24 blocks of 4 = 96 positions: each request needs up to 40 + 32, so at most two run at once and the
            // decodes outgrow the pool again and again.
            EngineConfig config = new EngineConfig(4, 24, 64, 64, 64);
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 24, 4), null,
                    Set.of(), config).start()) {
                List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
                for (int[] p : prompts) {
                    results.add(submit(engine, GenerationRequest.greedy(p, 32)));
                }
                for (int i = 0; i < prompts.size(); i++) {
                    assertThat(results.get(i).get(120, TimeUnit.SECONDS).generatedIds()).as("request %d", i)
                            .containsExactly(expected.get(i));
                }
                awaitIdle(engine);
                assertThat(engine.stats().preemptions()).as("the pool was too small").isPositive();
                assertThat(engine.stats().kvBlocksUsed()).isZero();
            }
        }
    }

    @Test
    void textStopsAndLogprobsMatchTheSingleSequenceGenerator() throws Exception {
        Path dir = model("stories260K");
        Tokenizer tokenizer = Tokenizer.load(dir);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512)) {
            GenerationRequest request = new GenerationRequest(new int[] {1}, 60,
                    ai.parallax.runtime.sampling.SamplingParams.GREEDY, List.of("girl"), Set.of(), false, 3);
            GenerationResult expected = new Generator(model, ops, tokenizer, Set.of(2))
                    .generate(request, Generator.TextListener.NONE);
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 64, 16), tokenizer,
                    Set.of(2), new EngineConfig(16, 64, 512, 8, 8)).start()) {
                StringBuilder streamed = new StringBuilder();
                List<TokenLogprob> logprobs = new ArrayList<>();
                CompletableFuture<GenerationResult> done = new CompletableFuture<>();
                engine.submit(request, new GenerationListener() {
                    @Override
                    public void onToken(int tokenId, String text, TokenLogprob logprob) {
                        streamed.append(text);
                        if (logprob != null) {
                            logprobs.add(logprob);
                        }
                    }

                    @Override
                    public void onComplete(GenerationResult result) {
                        done.complete(result);
                    }

                    @Override
                    public void onFailure(Throwable error) {
                        done.completeExceptionally(error);
                    }
                });
                GenerationResult result = done.get(30, TimeUnit.SECONDS);
                assertThat(result.text()).isEqualTo(expected.text()).startsWith("Once upon a time");
                assertThat(streamed.toString()).isEqualTo(expected.text());
                assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
                assertThat(result.generatedIds()).containsExactly(expected.generatedIds());
                assertThat(logprobs).hasSize(expected.logprobs().size());
                for (int i = 0; i < logprobs.size(); i++) {
                    assertThat(logprobs.get(i).token()).isEqualTo(expected.logprobs().get(i).token());
                    assertThat(logprobs.get(i).logprob()).isCloseTo(expected.logprobs().get(i).logprob(),
                            org.assertj.core.api.Assertions.within(1e-4));
                }
            }
        }
    }

    /** Qwen3-Next keeps a recurrent state per sequence, gpt-oss a ring per sequence for its sliding layers. */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-random-qwen3-next", "tiny-random-gpt-oss"})
    void modelWithPerSequenceStatePreemptsRecomputesAndNeverReusesAPrefixWithoutItsState(String name)
            throws Exception {
        try (CausalLanguageModel model = ModelLoader.load(model(name), ops, 512)) {
            int[] system = prompts(512, 1).getFirst();
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                // A shared prefix: its KV blocks could be reused, but the state after it (recurrent, or the ring of
            // its last window) could not.
                prompts.add(concat(system, 40 + i, 41 + i, 42));
            }
            Generator alone = new Generator(model, ops, null, Set.of());
            List<int[]> expected = new ArrayList<>();
            for (int[] p : prompts) {
                expected.add(alone.generate(GenerationRequest.greedy(p, 24), Generator.TextListener.NONE)
                        .generatedIds());
            }
            // 40 blocks of 4 = 160 positions for six requests of up to 67: some must be pre-empted and recomputed,
            // their recurrent state rebuilt from position 0 in whichever slot they get next.
            EngineConfig config = new EngineConfig(4, 40, 8, 3, 16);
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 40, 4,
                    config.maxRunning()), null, Set.of(), config).start()) {
                List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
                for (int[] p : prompts) {
                    results.add(submit(engine, GenerationRequest.greedy(p, 24)));
                }
                for (int i = 0; i < prompts.size(); i++) {
                    assertThat(results.get(i).get(120, TimeUnit.SECONDS).generatedIds()).as("%s request %d", name, i)
                            .containsExactly(expected.get(i));
                }
                awaitIdle(engine);
                assertThat(engine.stats().prefixHitBlocks()).as("no prefix shared without its state").isZero();
                assertThat(engine.stats().preemptions()).as("the pool was too small").isPositive();
                assertThat(engine.stats().kvBlocksUsed()).isZero();
            }
        }
    }

    @Test
    void sharedPrefixIsReusedFromTheCache() throws Exception {
        try (CausalLanguageModel model = ModelLoader.load(model("stories260K"), ops, 512)) {
            int[] system = prompts(512, 1).getFirst();
            int[] a = concat(system, 40, 41, 42);
            int[] b = concat(system, 50, 51);
            int[] expected = new Generator(model, ops, null, Set.of())
                    .generate(GenerationRequest.greedy(b, 8), Generator.TextListener.NONE).generatedIds();
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 128, 4), null,
                    Set.of(), new EngineConfig(4, 128, 512, 8, 8)).start()) {
                submit(engine, GenerationRequest.greedy(a, 8)).get(30, TimeUnit.SECONDS);
                long before = engine.stats().prefixHitBlocks();
                GenerationResult r = submit(engine, GenerationRequest.greedy(b, 8)).get(30, TimeUnit.SECONDS);
                assertThat(engine.stats().prefixHitBlocks() - before).isEqualTo(system.length / 4);
                assertThat(r.generatedIds()).containsExactly(expected);
            }
        }
    }

    @Test
    void cancellingFreesTheBlocksAndReportsCancelled() throws Exception {
        try (CausalLanguageModel model = ModelLoader.load(model("stories260K"), ops, 512)) {
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 128, 4), null,
                    Set.of(), new EngineConfig(4, 128, 512, 8, 8)).start()) {
                CountDownLatch firstToken = new CountDownLatch(1);
                CompletableFuture<GenerationResult> done = new CompletableFuture<>();
                GenerationRequest endless = new GenerationRequest(new int[] {1}, 400,
                        ai.parallax.runtime.sampling.SamplingParams.GREEDY, List.of(), Set.of(), true, -1);
                RequestHandle handle = engine.submit(endless, listener(done, firstToken));
                assertThat(firstToken.await(30, TimeUnit.SECONDS)).isTrue();
                handle.cancel();
                GenerationResult r = done.get(30, TimeUnit.SECONDS);
                assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
                assertThat(r.generatedIds().length).isLessThan(400);
                awaitIdle(engine);
                assertThat(engine.stats().kvBlocksUsed()).isZero();
                assertThat(engine.stats().cancelled()).isEqualTo(1);
            }
        }
    }

    @Test
    void promptsThatCannotFitAndFullQueuesAreRefused() {
        try (CausalLanguageModel model = ModelLoader.load(model("stories260K"), ops, 512)) {
            try (InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, 8, 4), null,
                    Set.of(), new EngineConfig(4, 8, 512, 8, 1))) {
                assertThatThrownBy(() -> engine.submit(GenerationRequest.greedy(new int[32], 4), listener(
                        new CompletableFuture<>(), new CountDownLatch(1))))
                        .isInstanceOf(RequestRejectedException.class)
                        .hasMessageContaining("the prompt has 32 tokens but at most 31 fit")
                        .extracting(e -> ((RequestRejectedException) e).reason())
                        .isEqualTo(RequestRejectedException.Reason.CONTEXT_LENGTH_EXCEEDED);
                assertThatThrownBy(() -> engine.submit(GenerationRequest.greedy(new int[] {1, 9999}, 4), listener(
                        new CompletableFuture<>(), new CountDownLatch(1))))
                        .hasMessageContaining("token id 9999 is outside the vocabulary [0, 512)");
                // The engine thread is not started, so the first request stays queued and the second is refused.
                engine.submit(GenerationRequest.greedy(new int[] {1}, 4), listener(new CompletableFuture<>(),
                        new CountDownLatch(1)));
                assertThatThrownBy(() -> engine.submit(GenerationRequest.greedy(new int[] {1}, 4), listener(
                        new CompletableFuture<>(), new CountDownLatch(1))))
                        .extracting(e -> ((RequestRejectedException) e).reason())
                        .isEqualTo(RequestRejectedException.Reason.QUEUE_FULL);
            }
        }
    }

    private static int[] concat(int[] prefix, int... suffix) {
        int[] out = java.util.Arrays.copyOf(prefix, prefix.length + suffix.length);
        System.arraycopy(suffix, 0, out, prefix.length, suffix.length);
        return out;
    }

    private static CompletableFuture<GenerationResult> submit(InferenceEngine engine, GenerationRequest request) {
        CompletableFuture<GenerationResult> done = new CompletableFuture<>();
        engine.submit(request, listener(done, new CountDownLatch(1)));
        return done;
    }

    private static GenerationListener listener(CompletableFuture<GenerationResult> done, CountDownLatch firstToken) {
        return new GenerationListener() {
            @Override
            public void onToken(int tokenId, String text, TokenLogprob logprob) {
                firstToken.countDown();
            }

            @Override
            public void onComplete(GenerationResult result) {
                done.complete(result);
            }

            @Override
            public void onFailure(Throwable error) {
                done.completeExceptionally(error);
            }
        };
    }

    /** Stats are published after each loop turn; wait until the engine has nothing left. */
    private static void awaitIdle(InferenceEngine engine) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while ((engine.stats().running() > 0 || engine.stats().kvBlocksUsed() > 0) && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
    }
}

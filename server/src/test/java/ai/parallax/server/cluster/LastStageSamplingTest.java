package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.ModelLoader;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.engine.LocalStepRunner;
import ai.parallax.runtime.sampling.SamplingParams;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.Ops;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static ai.parallax.server.cluster.StageTestSupport.submit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The last stage of a pipeline picks the tokens by the rule each step carries (filters and the seeded generator's
 * draw), so only token ids travel back. Seeded sampling there must give exactly what the single-machine engine
 * samples from the same logits, logprobs included; sequences with penalties come back as logits and are sampled by
 * the engine; and a step replayed after a rebuild keeps its draw.
 */
class LastStageSamplingTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));
    private static final EngineConfig ENGINE = new EngineConfig(4, 128, 16, 4, 16);
    private static final int[] PROMPT = {1, 400, 29, 100, 4, 300};

    private static final List<SamplingParams> SAMPLINGS = List.of(
            new SamplingParams(0.9, 0, 0.95, 0, 1, 0, 0, 11L),
            new SamplingParams(1.4, 20, 1, 0.02, 1, 0, 0, 12L),
            new SamplingParams(0.8, 0, 1, 0, 1.3, 0.2, 0.1, 13L)); // penalties: sampled by the engine

    @Test
    void seededSamplingOnTheLastStageEqualsTheSingleMachineEngine() throws Exception {
        Path dir = MODELS.resolve("stories260K");
        List<GenerationResult> single = generateOnOneMachine(dir);
        try (TwoStagePipeline pipeline = new TwoStagePipeline(dir, ENGINE);
             InferenceEngine engine = new InferenceEngine(pipeline.runner, null, Set.of(), ENGINE).start()) {
            assertThat(pipeline.runner.picksTokens()).isTrue();
            List<GenerationResult> staged = generate(engine, 0);
            assertSame(staged, single, "over two stages");
            // Only the sequence with penalties had its logits sent back: one row per token it sampled.
            assertThat(pipeline.logitRowsReturned.get()).isEqualTo(staged.get(2).generatedIds().length);
            assertThat(pipeline.pickedRows.get()).isGreaterThanOrEqualTo(
                    staged.get(0).generatedIds().length + staged.get(1).generatedIds().length);
        }
    }

    @Test
    void aRebuildMidGenerationSamplesWhatTheUninterruptedRunSamples() throws Exception {
        Path dir = MODELS.resolve("stories260K");
        List<GenerationResult> single = generateOnOneMachine(dir);
        try (TwoStagePipeline pipeline = new TwoStagePipeline(dir, ENGINE);
             InferenceEngine engine = new InferenceEngine(pipeline.runner, null, Set.of(), ENGINE).start()) {
            // The first request's 7th token triggers a rebuild from the engine thread; the next step is replayed.
            List<GenerationResult> staged = generate(engine, 7, pipeline);
            assertThat(engine.stats().preemptions()).isPositive();
            assertSame(staged, single, "with a rebuild");
        }
    }

    private static void assertSame(List<GenerationResult> actual, List<GenerationResult> expected, String what) {
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i).generatedIds()).as("%s, sampling %d", what, i)
                    .containsExactly(expected.get(i).generatedIds());
            // The split model's logits may differ from the whole model's in the last bits (another batch shape
            // in the kernels): the logprobs agree to 1e-4, the alternatives are the same tokens.
            List<TokenLogprob> got = actual.get(i).logprobs();
            List<TokenLogprob> want = expected.get(i).logprobs();
            assertThat(got).as("%s, logprobs of sampling %d", what, i).hasSameSizeAs(want);
            for (int t = 0; t < want.size(); t++) {
                assertThat(got.get(t).token()).isEqualTo(want.get(t).token());
                assertThat(got.get(t).logprob()).as("%s, sampling %d, token %d", what, i, t)
                        .isCloseTo(want.get(t).logprob(), within(1e-4));
                assertThat(got.get(t).top().stream().map(TokenLogprob.Alternative::token).toList())
                        .isEqualTo(want.get(t).top().stream().map(TokenLogprob.Alternative::token).toList());
            }
        }
        assertThat(expected.get(0).generatedIds()).as("the draws are not all greedy")
                .isNotEqualTo(expected.get(1).generatedIds());
    }

    private static List<GenerationResult> generateOnOneMachine(Path dir) throws Exception {
        try (Ops ops = new SimdOps(1);
             CausalLanguageModel model = ModelLoader.load(dir, ops, TwoStagePipeline.MAX_POSITIONS);
             InferenceEngine engine = new InferenceEngine(new LocalStepRunner(model, ops, ENGINE.blockCount(),
                     ENGINE.blockSize()), null, Set.of(), ENGINE).start()) {
            return generate(engine, 0);
        }
    }

    private static List<GenerationResult> generate(InferenceEngine engine, int rebuildAt) throws Exception {
        return generate(engine, rebuildAt, null);
    }

    private static List<GenerationResult> generate(InferenceEngine engine, int rebuildAt, TwoStagePipeline pipeline)
            throws Exception {
        AtomicLong rebuilt = new AtomicLong();
        List<java.util.concurrent.CompletableFuture<GenerationResult>> results = new java.util.ArrayList<>();
        for (int i = 0; i < SAMPLINGS.size(); i++) {
            GenerationRequest request = new GenerationRequest(PROMPT, 40, SAMPLINGS.get(i), List.of(), Set.of(),
                    true, 3);
            boolean first = i == 0;
            results.add(submit(engine, request, n -> {
                if (first && n == rebuildAt && pipeline != null && rebuilt.getAndIncrement() == 0) {
                    pipeline.rebuild();
                }
            }));
        }
        List<GenerationResult> out = new java.util.ArrayList<>();
        for (var r : results) {
            out.add(r.get(120, TimeUnit.SECONDS));
        }
        return out;
    }
}

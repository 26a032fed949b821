package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.engine.KvStateLostException;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntConsumer;

import static ai.parallax.server.cluster.StageTestSupport.ids;
import static ai.parallax.server.cluster.StageTestSupport.overTheWire;
import static ai.parallax.server.cluster.StageTestSupport.submit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A re-allocation rebuilds every pipeline: its stages are made anew, with empty KV pools. When that happens between
 * two steps of an engine (it was sampling, or idle with finished requests' prefixes cached), no step fails, so
 * nothing tells the engine that the keys and values its block tables point at are gone, unless the runner does.
 * These tests rebuild the pipeline exactly there, from the engine thread's own token callback, and require the
 * greedy continuations of expected.json all the same.
 */
class PipelineRebuildTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));
    private static final int BLOCK_SIZE = 4;
    private static final int MAX_POSITIONS = 256;
    private static final EngineConfig ENGINE = new EngineConfig(BLOCK_SIZE, 64, 8, 4, 16);

    /** A rebuild after the 5th token of the first request, while every prompt is running. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"stories260K", "tiny-random-qwen3"})
    void aPipelineRebuiltBetweenStepsReplaysTheRunningSequences(String name) throws Exception {
        Path dir = MODELS.resolve(name);
        JsonNode cases = cases(dir);
        try (Pipeline pipeline = new Pipeline(dir);
             InferenceEngine engine = new InferenceEngine(pipeline.runner, null, Set.of(), ENGINE).start()) {
            List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
            for (int i = 0; i < cases.size(); i++) {
                JsonNode c = cases.get(i);
                IntConsumer onToken = i != 0 ? n -> { } : n -> {
                    if (n == 5) {
                        pipeline.rebuild(); // on the engine thread, between the step that made token 5 and the next
                    }
                };
                results.add(submit(engine, GenerationRequest.greedy(ids(c.get("input_ids")),
                        c.get("greedy_continuation").size()), onToken));
            }
            for (int i = 0; i < cases.size(); i++) {
                assertThat(results.get(i).get(120, TimeUnit.SECONDS).generatedIds()).as("%s case %d", name, i)
                        .containsExactly(ids(cases.get(i).get("greedy_continuation")));
            }
            assertThat(pipeline.epoch.get()).as("the pipeline was rebuilt").isEqualTo(2);
            assertThat(engine.stats().preemptions()).as("the running sequences were replayed").isPositive();
        }
    }

    /**
     * A finished request leaves its prompt's blocks cached for the next request with the same prefix; after a
     * rebuild those blocks are empty on the new stages, so the prefix must not be reused.
     */
    @Test
    void cachedPrefixesAreNotReusedOnARebuiltPipeline() throws Exception {
        Path dir = MODELS.resolve("stories260K");
        JsonNode c = cases(dir).get(1);
        int[] prompt = ids(c.get("input_ids"));
        int[] expected = ids(c.get("greedy_continuation"));
        try (Pipeline pipeline = new Pipeline(dir);
             InferenceEngine engine = new InferenceEngine(pipeline.runner, null, Set.of(), ENGINE).start()) {
            GenerationRequest request = GenerationRequest.greedy(prompt, expected.length);
            assertThat(submit(engine, request, n -> { }).get(60, TimeUnit.SECONDS).generatedIds())
                    .containsExactly(expected);
            pipeline.rebuild(); // the engine is idle
            assertThat(submit(engine, request, n -> { }).get(60, TimeUnit.SECONDS).generatedIds())
                    .as("the same prompt after the rebuild").containsExactly(expected);
        }
    }

    /** The runner itself: the first step offered to a rebuilt pipeline is refused, the next one goes through. */
    @Test
    void theFirstStepOnANewAllocationReportsTheLostState() throws Exception {
        Path dir = MODELS.resolve("stories260K");
        try (Pipeline pipeline = new Pipeline(dir)) {
            BatchLayout layout = new BatchLayout(BLOCK_SIZE);
            layout.add(0, 1, new int[] {0}, BatchLayout.NO_STATE_SLOT);
            float[] logits = new float[pipeline.vocabulary];
            pipeline.runner.run(layout, new int[] {1}, new int[] {0}, logits);
            pipeline.rebuild();
            assertThatThrownBy(() -> pipeline.runner.run(layout, new int[] {1}, new int[] {0}, logits))
                    .isInstanceOf(KvStateLostException.class).hasMessageContaining("allocation 1 -> 2");
            pipeline.runner.run(layout, new int[] {1}, new int[] {0}, logits);
            assertThat(pipeline.broken.get()).as("a rebuild is no broken pipeline").isZero();
        }
    }

    /** Two stages in this JVM (each frame encoded and decoded as on the network), made anew by {@link #rebuild}. */
    private static final class Pipeline implements AutoCloseable {
        final Path dir;
        final ModelConfig config;
        final int vocabulary;
        final AtomicInteger broken = new AtomicInteger();
        final AtomicLong epoch = new AtomicLong();
        final PipelineStepRunner runner;
        final List<Ops> kernels = new ArrayList<>();
        final List<CausalLanguageModel> models = new ArrayList<>();
        List<StageWorker> workers = List.of();

        Pipeline(Path dir) {
            this.dir = dir;
            this.config = ModelConfig.read(dir);
            this.vocabulary = config.vocabSize();
            this.runner = new PipelineStepRunner(vocabulary, MAX_POSITIONS, Duration.ofSeconds(30),
                    Duration.ofSeconds(60), reason -> broken.incrementAndGet());
            int cut = config.numLayers() / 2;
            for (LayerRange range : List.of(new LayerRange(0, cut, config.numLayers()),
                    new LayerRange(cut, config.numLayers(), config.numLayers()))) {
                Ops ops = new SimdOps(1);
                kernels.add(ops);
                models.add(ModelLoader.load(dir, config, ops, range, MAX_POSITIONS));
            }
            rebuild();
        }

        /** As a re-allocation that keeps each node's layers: the stages' KV pools are new and empty. */
        void rebuild() {
            long e = epoch.incrementAndGet();
            runner.deactivate("re-allocating (test)");
            for (StageWorker w : workers) {
                w.stop();
            }
            StageWorker first = new StageWorker(models.get(0), kernels.get(0), ENGINE.blockCount(), BLOCK_SIZE, 0,
                    StepFrame.Payload.F32, e);
            StageWorker last = new StageWorker(models.get(1), kernels.get(1), ENGINE.blockCount(), BLOCK_SIZE, 0,
                    StepFrame.Payload.F32, e);
            first.next(frame -> last.submit(overTheWire(frame)));
            last.next(frame -> runner.deliver(overTheWire(frame)));
            workers = List.of(first, last);
            runner.activate(e, frame -> first.submit(overTheWire(frame)));
        }

        @Override
        public void close() {
            runner.close();
            for (StageWorker w : workers) {
                w.stop();
            }
            for (CausalLanguageModel m : models) {
                m.close();
            }
            for (Ops o : kernels) {
                o.close();
            }
        }
    }

    private static JsonNode cases(Path dir) throws Exception {
        return new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).get("cases");
    }
}

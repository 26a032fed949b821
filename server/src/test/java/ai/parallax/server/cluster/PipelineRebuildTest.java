package ai.parallax.server.cluster;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.engine.KvStateLostException;
import ai.parallax.tensors.ops.BatchLayout;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

import static ai.parallax.server.cluster.StageTestSupport.ids;
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
    private static final EngineConfig ENGINE = new EngineConfig(BLOCK_SIZE, 64, 8, 4, 16);

    /** A rebuild after the 5th token of the first request, while every prompt is running. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"stories260K", "tiny-random-qwen3"})
    void aPipelineRebuiltBetweenStepsReplaysTheRunningSequences(String name) throws Exception {
        Path dir = MODELS.resolve(name);
        JsonNode cases = cases(dir);
        try (TwoStagePipeline pipeline = new TwoStagePipeline(dir, ENGINE);
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
        try (TwoStagePipeline pipeline = new TwoStagePipeline(dir, ENGINE);
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
        try (TwoStagePipeline pipeline = new TwoStagePipeline(dir, ENGINE)) {
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

    private static JsonNode cases(Path dir) throws Exception {
        return new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).get("cases");
    }
}

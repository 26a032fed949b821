package ai.parallax.kernels.vulkan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A CPU stage and a GPU stage serving one pipeline in one process: layers {@code [0, k)} on one backend and
 * {@code [k, L)} on the other, the residual stream crossing between them through the host (as it crosses the network
 * between two nodes). The pipeline must give the whole-model reference: argmax at every position, logits within 1e-2
 * and the greedy continuation, decoded token by token through both stages.
 */
class MixedPipelineTest {
    private static SimdOps cpu;
    private static VulkanOps gpu;

    @BeforeAll
    static void open() {
        cpu = new SimdOps(1);
        gpu = VulkanOps.open();
    }

    @AfterAll
    static void close() {
        gpu.close();
        cpu.close();
    }

    /** Two stages on their own backends, each with its own KV cache. */
    private record Pipeline(CausalLanguageModel first, Ops firstOps, KvCache firstCache, CausalLanguageModel last,
                            Ops lastOps, KvCache lastCache, float[] wire) implements AutoCloseable {

        static Pipeline load(Path dir, int split, boolean gpuFirst, int capacity) {
            ModelConfig config = ModelConfig.read(dir);
            int layers = config.numLayers();
            Ops a = gpuFirst ? gpu : cpu;
            Ops b = gpuFirst ? cpu : gpu;
            CausalLanguageModel first = ModelLoader.load(dir, config, a, new LayerRange(0, split, layers), capacity);
            CausalLanguageModel last = ModelLoader.load(dir, config, b, new LayerRange(split, layers, layers),
                    capacity);
            return new Pipeline(first, a, first.newKvCache(capacity), last, b, last.newKvCache(capacity),
                    new float[capacity * config.hiddenSize()]);
        }

        /** Logits of the tokens at positions [start, start + count), from the last stage's backend. */
        Tensor forward(int[] tokens, int start, boolean allPositions) {
            int count = tokens.length;
            Tensor hidden = first.forwardLayers(first.embed(tokens, count), start, firstCache);
            firstOps.copyToHost(hidden, wire, 0);
            Tensor received = last.hiddenInput(count);
            lastOps.copyFromHost(wire, 0, received);
            last.forwardLayers(received, start, lastCache);
            return last.logits(received, allPositions);
        }

        @Override
        public void close() {
            lastCache.close();
            firstCache.close();
            last.close();
            first.close();
        }
    }

    @ParameterizedTest(name = "{0} split at {1}, GPU first: {2}")
    @CsvSource({"stories260K,2,false", "stories260K,3,true", "stories260K-bf16,1,false", "tiny-random-qwen3,1,false",
            "tiny-random-qwen3,1,true"})
    void cpuAndGpuStagesGiveTheWholeModelReference(String name, int split, boolean gpuFirst) {
        Path dir = ReferenceCase.models().resolve(name);
        int vocab = ModelConfig.read(dir).vocabSize();
        for (ReferenceCase c : ReferenceCase.read(dir)) {
            int n = c.inputIds().length;
            int[] expected = c.greedyContinuation();
            try (Pipeline pipeline = Pipeline.load(dir, split, gpuFirst, n + expected.length + 1)) {
                Tensor logits = pipeline.forward(c.inputIds(), 0, true);
                float[] host = new float[n * vocab];
                pipeline.lastOps.copyToHost(logits, host, 0);
                for (int p = 0; p < n; p++) {
                    assertThat(pipeline.lastOps.argmax(logits, p)).as("%s argmax at position %d", name, p)
                            .isEqualTo(c.argmaxPerPosition()[p]);
                    for (int i = 0; i < 16; i++) {
                        assertThat((double) host[p * vocab + i]).as("%s logit %d at position %d", name, i, p)
                                .isCloseTo(c.logitsFirst16PerPosition()[p][i], within(1e-2));
                    }
                }
                int[] produced = new int[expected.length];
                int next = pipeline.lastOps.argmax(logits, n - 1);
                for (int i = 0; i < expected.length; i++) {
                    produced[i] = next;
                    logits = pipeline.forward(new int[] {next}, n + i, false);
                    next = pipeline.lastOps.argmax(logits, 0);
                }
                assertThat(produced).as("%s greedy continuation through a CPU and a GPU stage", name)
                        .containsExactly(expected);
            }
        }
    }
}

package ai.parallax.models;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** A model split into pipeline stages must compute exactly what the whole model computes. */
class LayerRangeModelTest {
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
    @ValueSource(ints = {1, 2, 3, 4})
    void splitModelGivesSameLogitsAsWholeModel(int split) {
        Path dir = ReferenceCase.models().resolve("stories260K");
        ModelConfig config = ModelConfig.read(dir);
        int layers = config.numLayers();
        int[] prompt = {1, 403, 407, 261, 378, 432, 383};
        int vocab = config.vocabSize();

        float[] whole = new float[prompt.length * vocab];
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 64);
             KvCache cache = model.newKvCache(64)) {
            ops.copyToHost(model.forward(prompt, prompt.length, 0, cache, true), whole, 0);
        }

        float[] staged = new float[prompt.length * vocab];
        try (CausalLanguageModel first = ModelLoader.load(dir, config, ops, new LayerRange(0, split, layers), 64);
             CausalLanguageModel second = ModelLoader.load(dir, config, ops, new LayerRange(split, layers, layers), 64);
             KvCache firstCache = first.newKvCache(64);
             KvCache secondCache = second.newKvCache(64)) {
            Tensor hidden = first.forwardLayers(first.embed(prompt, prompt.length), 0, firstCache);
            // Cross the stage boundary through the host, as the network would.
            float[] wire = new float[prompt.length * config.hiddenSize()];
            ops.copyToHost(hidden, wire, 0);
            Tensor received = second.hiddenInput(prompt.length);
            ops.copyFromHost(wire, 0, received);
            second.forwardLayers(received, 0, secondCache);
            ops.copyToHost(second.logits(received, true), staged, 0);
        }
        assertBitIdentical("stories260K split at " + split, whole, staged, vocab);
    }

    /** Two stages of an MoE model and of an FP8 model: the boundary falls between layers 0 and 1. */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-random-qwen3-moe", "tiny-random-qwen3-fp8"})
    void twoStageSplitGivesSameLogitsAsWholeModel(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        ModelConfig config = ModelConfig.read(dir);
        int layers = config.numLayers();
        int[] prompt = {1, 403, 407, 261, 378, 432, 383, 1999};
        int vocab = config.vocabSize();
        float[] whole = new float[prompt.length * vocab];
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 64)) {
            // Twice: the Vector API's interpreted fallback sums lanes in another order than compiled code, so the
            // first pass over a large LM head, compiled part way through, is not bit-reproducible.
            for (int pass = 0; pass < 2; pass++) {
                try (KvCache cache = model.newKvCache(64)) {
                    ops.copyToHost(model.forward(prompt, prompt.length, 0, cache, true), whole, 0);
                }
            }
        }
        float[] staged = new float[prompt.length * vocab];
        try (CausalLanguageModel first = ModelLoader.load(dir, config, ops, new LayerRange(0, 1, layers), 64);
             CausalLanguageModel second = ModelLoader.load(dir, config, ops, new LayerRange(1, layers, layers), 64);
             KvCache firstCache = first.newKvCache(64);
             KvCache secondCache = second.newKvCache(64)) {
            Tensor hidden = first.forwardLayers(first.embed(prompt, prompt.length), 0, firstCache);
            float[] wire = new float[prompt.length * config.hiddenSize()];
            ops.copyToHost(hidden, wire, 0);
            Tensor received = second.hiddenInput(prompt.length);
            ops.copyFromHost(wire, 0, received);
            second.forwardLayers(received, 0, secondCache);
            ops.copyToHost(second.logits(received, true), staged, 0);
        }
        assertBitIdentical(name, whole, staged, vocab);
    }

    /**
     * The per-layer estimate counts every expert, whatever routing later reads: it matches the arithmetic of the
     * config, and a stage holding one layer holds exactly that much besides its head.
     */
    @Test
    void layerMemoryEstimateCountsEveryExpert() {
        Path dir = ReferenceCase.models().resolve("tiny-random-qwen3-moe");
        ModelConfig config = ModelConfig.read(dir);
        long hidden = config.hiddenSize();
        long experts = config.json().get("num_experts").asLong();
        long expertInter = config.json().get("moe_intermediate_size").asLong();
        long attention = hidden * config.queryWidth() * 2 + hidden * config.keyValueWidth() * 2
                + 2L * config.headDim() + 2 * hidden;
        long expertsBytes = experts * 3 * hidden * expertInter;
        long router = experts * hidden;
        long bf16 = 2;
        long expected = (attention + router + expertsBytes) * bf16;

        long[] perLayer = ModelLoader.layerWeightBytes(dir);
        assertThat(perLayer).containsOnly(expected);
        try (CausalLanguageModel last = ModelLoader.load(dir, config, ops, new LayerRange(1, 2, 2), 64)) {
            long head = (hidden + (long) config.vocabSize() * hidden) * bf16;
            assertThat(last.weightBytes()).isEqualTo(perLayer[1] + head);
        }
    }

    /** Element by element: AssertJ's diff of a million floats would take minutes to report. */
    private static void assertBitIdentical(String what, float[] whole, float[] staged, int vocab) {
        for (int i = 0; i < whole.length; i++) {
            if (Float.floatToRawIntBits(staged[i]) != Float.floatToRawIntBits(whole[i])) {
                throw new AssertionError(what + ": staged logit " + i % vocab + " at position " + i / vocab + " is "
                        + staged[i] + ", whole model gives " + whole[i]);
            }
        }
    }

    @Test
    void stagesHoldOnlyTheirOwnLayersWeights() {
        Path dir = ReferenceCase.models().resolve("stories260K");
        ModelConfig config = ModelConfig.read(dir);
        int layers = config.numLayers();
        long embeddingBytes = (long) config.vocabSize() * config.hiddenSize() * 4;
        long normBytes = config.hiddenSize() * 4L;
        try (CausalLanguageModel whole = ModelLoader.load(dir, ops, 64);
             CausalLanguageModel first = ModelLoader.load(dir, config, ops, new LayerRange(0, 2, layers), 64);
             CausalLanguageModel middle = ModelLoader.load(dir, config, ops, new LayerRange(2, 3, layers), 64);
             CausalLanguageModel last = ModelLoader.load(dir, config, ops, new LayerRange(3, layers, layers), 64)) {
            long perLayer = middle.weightBytes();
            assertThat(first.weightBytes()).isEqualTo(embeddingBytes + 2 * perLayer);
            // Tied embeddings: the last stage needs the embedding matrix again, as its LM head.
            assertThat(last.weightBytes()).isEqualTo(2 * perLayer + normBytes + embeddingBytes);
            assertThat(whole.weightBytes()).isEqualTo(embeddingBytes + layers * perLayer + normBytes);
            assertThat(first.embed(new int[] {1}, 1).rowLength()).isEqualTo(config.hiddenSize());
        }
    }

    @Test
    void middleStageRefusesToEmbedOrProduceLogits() {
        Path dir = ReferenceCase.models().resolve("stories260K");
        ModelConfig config = ModelConfig.read(dir);
        try (CausalLanguageModel middle = ModelLoader.load(dir, config, ops, new LayerRange(1, 3, 5), 64)) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> middle.embed(new int[] {1}, 1))
                    .hasMessageContaining("first stage");
            Tensor hidden = middle.hiddenInput(1);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> middle.logits(hidden, false))
                    .hasMessageContaining("last stage");
        }
    }
}

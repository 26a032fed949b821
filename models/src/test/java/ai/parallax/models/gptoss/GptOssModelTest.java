package ai.parallax.models.gptoss;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelException;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * gpt-oss behaviour beyond the reference logits (those are in ReferenceModelTest): the sliding layers' ring cache,
 * the memory the layers need, and refusal of what the engine does not implement.
 */
class GptOssModelTest {
    private static Ops ops;

    @TempDir
    Path temp;

    @BeforeAll
    static void startBackend() {
        ops = new SimdOps(2);
    }

    @AfterAll
    static void stopBackend() {
        ops.close();
    }

    static Path model() {
        return Path.of(System.getProperty("parallax.models")).resolve("tiny-random-gpt-oss");
    }

    /**
     * The sliding layers (0 and 2, window 8) keep a ring of 16 rows whatever the capacity; only the full layer
     * grows. So a sequence's cache memory past the window grows by the full layers alone.
     */
    @Test
    void slidingLayerCacheMemoryStaysConstantAsContextGrows() {
        try (CausalLanguageModel model = ModelLoader.load(model(), ops, 4096)) {
            long width = model.config().keyValueWidth();
            long[] slidingBytes = new long[3];
            int[] capacities = {64, 512, 4096};
            for (int i = 0; i < capacities.length; i++) {
                try (KvCache cache = model.newKvCache(capacities[i])) {
                    assertThat(cache.rows(0)).as("sliding layer 0 rows").isEqualTo(16);
                    assertThat(cache.rows(2)).as("sliding layer 2 rows").isEqualTo(16);
                    assertThat(cache.rows(1)).as("full layer rows").isEqualTo(capacities[i]);
                    slidingBytes[i] = cache.byteSize() - 2L * capacities[i] * width * Float.BYTES;
                }
            }
            assertThat(slidingBytes).containsOnly(2L * 2 * 16 * width * Float.BYTES);
        }
    }

    /**
     * Decoding 40 tokens one at a time through the rings (each ring row rewritten twice over) gives the logits that
     * a paged cache keeping every position gives for the whole prompt at once.
     */
    @Test
    void decodingPastTheWindowThroughTheRingMatchesTheFullHistory() {
        int[] prompt = new Random(7).ints(40, 3, 1536).toArray();
        try (CausalLanguageModel model = ModelLoader.load(model(), ops, 256)) {
            int vocab = model.config().vocabSize();
            float[] full = new float[prompt.length * vocab];
            try (KvCache paged = model.newPagedKvCache(10, 4)) {
                int[] table = {9, 3, 0, 7, 1, 2, 8, 5, 4, 6};
                BatchLayout batch = new BatchLayout(4);
                batch.add(0, prompt.length, table);
                Tensor hidden = model.forwardLayers(model.embed(prompt, prompt.length), batch, paged);
                ops.copyToHost(model.logits(hidden, true), full, 0);
            }
            float[] step = new float[vocab];
            try (KvCache ring = model.newKvCache(prompt.length)) {
                assertThat(ring.rows(0)).isLessThan(prompt.length);
                for (int p = 0; p < prompt.length; p++) {
                    ops.copyToHost(model.forward(new int[] {prompt[p]}, 1, p, ring, false), step, 0);
                    for (int i = 0; i < vocab; i++) {
                        assertThat(step[i]).as("logit %d at position %d", i, p)
                                .isCloseTo(full[p * vocab + i], within(1e-4f));
                    }
                }
            }
        }
    }

    /**
     * In a paged cache for the serving engine, each sliding layer keeps a ring of 16 rows per sequence slot, so its
     * memory is set by the window and the sequences running at once; growing the pool (longer contexts) grows only
     * the full layer.
     */
    @Test
    void pagedSlidingLayersKeepARingPerSequenceWhateverThePoolSize() {
        try (CausalLanguageModel model = ModelLoader.load(model(), ops, 4096)) {
            long width = model.config().keyValueWidth();
            for (int blocks : new int[] {64, 256, 1024}) {
                try (KvCache cache = model.newPagedKvCache(blocks, 4, 3)) {
                    assertThat(cache.ringSlots()).isEqualTo(3);
                    assertThat(cache.rows(0)).as("sliding layer 0").isEqualTo(3 * 16);
                    assertThat(cache.rows(2)).as("sliding layer 2").isEqualTo(3 * 16);
                    assertThat(cache.rows(1)).as("full layer").isEqualTo(blocks * 4);
                    assertThat(cache.byteSize() - 2L * blocks * 4 * width * Float.BYTES)
                            .isEqualTo(2L * 2 * 3 * 16 * width * Float.BYTES);
                }
            }
        }
    }

    /**
     * Three sequences in one paged batch, each through its own ring: the first in one 40-token step (pieces of
     * window + 1), the others decoding token by token past the window, give the logits of a paged cache that keeps
     * every position.
     */
    @Test
    void batchedRingsPerSequenceMatchTheFullHistory() {
        Random random = new Random(11);
        int[][] prompts = {random.ints(40, 3, 1536).toArray(), random.ints(30, 3, 1536).toArray(),
                random.ints(25, 3, 1536).toArray()};
        try (CausalLanguageModel model = ModelLoader.load(model(), ops, 256)) {
            int vocab = model.config().vocabSize();
            float[][] full = new float[prompts.length][];
            for (int s = 0; s < prompts.length; s++) {
                full[s] = new float[prompts[s].length * vocab];
                try (KvCache paged = model.newPagedKvCache(10, 4)) {
                    BatchLayout batch = new BatchLayout(4);
                    batch.add(0, prompts[s].length, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
                    Tensor hidden = model.forwardLayers(model.embed(prompts[s], prompts[s].length), batch, paged);
                    ops.copyToHost(model.logits(hidden, true), full[s], 0);
                }
            }
            try (KvCache rings = model.newPagedKvCache(30, 4, 3)) {
                int[][] tables = new int[3][10];
                for (int s = 0; s < 3; s++) {
                    for (int b = 0; b < 10; b++) {
                        tables[s][b] = s * 10 + b;
                    }
                }
                BatchLayout batch = new BatchLayout(4);
                // Sequence 0: the whole prompt in one step, alone. Slots are deliberately not the sequence order.
                batch.add(0, 40, tables[0], 2);
                Tensor hidden = model.forwardLayers(model.embed(prompts[0], 40), batch, rings);
                float[] logits = new float[40 * vocab];
                ops.copyToHost(model.logits(hidden, true), logits, 0);
                assertClose(logits, full[0], 0, 40 * vocab, "sequence 0");
                // Sequences 1 and 2: decoded together, one token a step.
                float[] step = new float[2 * vocab];
                for (int p = 0; p < 30; p++) {
                    batch.clear();
                    int[] tokens;
                    if (p < 25) {
                        batch.add(p, 1, tables[1], 0);
                        batch.add(p, 1, tables[2], 1);
                        tokens = new int[] {prompts[1][p], prompts[2][p]};
                    } else {
                        batch.add(p, 1, tables[1], 0);
                        tokens = new int[] {prompts[1][p]};
                    }
                    Tensor h = model.forwardLayers(model.embed(tokens, tokens.length), batch, rings);
                    ops.copyToHost(model.logits(h, true), step, 0);
                    assertClose(step, full[1], p * vocab, vocab, "sequence 1 at " + p);
                    if (p < 25) {
                        float[] second = java.util.Arrays.copyOfRange(step, vocab, 2 * vocab);
                        assertClose(second, full[2], p * vocab, vocab, "sequence 2 at " + p);
                    }
                }
            }
        }
    }

    private static void assertClose(float[] actual, float[] expected, int expectedFrom, int count, String what) {
        for (int i = 0; i < count; i++) {
            assertThat(actual[i]).as("%s logit %d", what, i).isCloseTo(expected[expectedFrom + i], within(1e-4f));
        }
    }

    @Test
    void aBatchWithoutStateSlotsIsRefusedByRings() {
        try (CausalLanguageModel model = ModelLoader.load(model(), ops, 256);
             KvCache rings = model.newPagedKvCache(16, 4, 2)) {
            BatchLayout batch = new BatchLayout(4);
            batch.add(0, 2, new int[] {0});
            Tensor hidden = model.embed(new int[] {1, 5}, 2);
            assertThatThrownBy(() -> model.forwardLayers(hidden, batch, rings))
                    .isInstanceOf(ModelException.class)
                    .hasMessageContaining("state slot -1").hasMessageContaining("[0, 2)");
        }
    }

    @Test
    void aRingCacheIsRefusedForABatch() {
        try (CausalLanguageModel model = ModelLoader.load(model(), ops, 256);
             KvCache ring = model.newKvCache(64)) {
            BatchLayout batch = new BatchLayout(64);
            batch.add(0, 2, new int[] {0});
            Tensor hidden = model.embed(new int[] {1, 5}, 2);
            assertThatThrownBy(() -> model.forwardLayers(hidden, batch, ring))
                    .isInstanceOf(ModelException.class)
                    .hasMessageContaining("sliding-window ring of 16 rows")
                    .hasMessageContaining("newPagedKvCache");
        }
    }

    /**
     * Each layer needs its attention (BF16), router (BF16), and every expert: packed MXFP4 codes (half a byte an
     * element), one scale byte per 32, and BF16 biases.
     */
    @Test
    void layerMemoryCountsEveryExpertInItsPackedForm() {
        ModelConfig config = ModelConfig.read(model());
        long h = config.hiddenSize();
        long inter = config.intermediateSize();
        long e = config.json().get("num_local_experts").asLong();
        long attention = 2 * (config.queryWidth() * h + config.queryWidth() + 2 * (config.keyValueWidth() * h
                + config.keyValueWidth()) + h * config.queryWidth() + h + config.numHeads() + 2 * h);
        long router = 2 * (e * h + e);
        long gateUp = e * 2 * inter * h / 2 + e * 2 * inter * h / 32 + 2 * e * 2 * inter;
        long down = e * h * inter / 2 + e * h * inter / 32 + 2 * e * h;
        long expected = attention + router + gateUp + down;

        long[] perLayer = ModelLoader.layerWeightBytes(model());
        assertThat(perLayer).containsOnly(expected);
        try (CausalLanguageModel last = ModelLoader.load(model(), config, ops, new LayerRange(2, 3, 3), 64)) {
            long head = 2 * (h + config.vocabSize() * h);
            assertThat(last.weightBytes()).isEqualTo(perLayer[2] + head);
        }
    }

    /** A copy of the model directory (weights linked, not copied) with its config.json edited. */
    private Path withConfig(Consumer<ObjectNode> edit) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(model().resolve("config.json").toFile());
        edit.accept(config);
        json.writeValue(temp.resolve("config.json").toFile(), config);
        Files.createSymbolicLink(temp.resolve("model.safetensors"), model().resolve("model.safetensors"));
        return temp;
    }

    @Test
    void unknownLayerTypeIsNamed() throws IOException {
        Path dir = withConfig(c -> c.putArray("layer_types").add("sliding_attention").add("linear_attention")
                .add("full_attention"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("layer_types[1] \"linear_attention\" is not supported");
    }

    @Test
    void unquantisedExpertsAreRefused() throws IOException {
        Path dir = withConfig(c -> c.remove("quantization_config"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("quantization_config.quant_method (missing) is not supported for gpt_oss");
    }

    @Test
    void otherRopeScalingIsRefused() throws IOException {
        Path dir = withConfig(c -> ((ObjectNode) c.get("rope_scaling")).put("rope_type", "linear"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("rope_scaling type \"linear\" is not supported for gpt_oss");
    }

    @Test
    void layerTypesOfTheWrongLengthAreRefused() throws IOException {
        Path dir = withConfig(c -> c.putArray("layer_types").add("sliding_attention"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("layer_types must list one type for each of the 3 layers");
    }
}

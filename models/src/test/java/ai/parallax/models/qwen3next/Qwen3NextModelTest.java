package ai.parallax.models.qwen3next;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
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

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Qwen3-Next beyond the reference logits: its state across steps, the batched paged path, its config checks. */
class Qwen3NextModelTest {
    private static Ops ops;
    private static Path dir;

    @BeforeAll
    static void startBackend() {
        ops = new SimdOps(2);
        dir = Path.of(System.getProperty("parallax.models")).resolve("tiny-random-qwen3-next");
    }

    @AfterAll
    static void stopBackend() {
        ops.close();
    }

    /**
     * A prompt longer than one delta-rule chunk, run in one step (chunked form), gives the logits of feeding it
     * token by token (recurrent form, convolution window carried between steps).
     */
    @Test
    void promptInOneStepEqualsPromptTokenByToken() {
        int[] prompt = randomTokens(70, 1);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 128)) {
            int vocab = model.config().vocabSize();
            float[] whole = new float[prompt.length * vocab];
            try (KvCache cache = model.newKvCache(prompt.length)) {
                ops.copyToHost(model.forward(prompt, prompt.length, 0, cache, true), whole, 0);
            }
            float[] step = new float[vocab];
            try (KvCache cache = model.newKvCache(prompt.length)) {
                for (int p = 0; p < prompt.length; p++) {
                    ops.copyToHost(model.forward(new int[] {prompt[p]}, 1, p, cache, false), step, 0);
                    for (int i = 0; i < vocab; i++) {
                        assertThat(step[i]).as("logit %d at position %d", i, p)
                                .isCloseTo(whole[p * vocab + i], within(1e-4f));
                    }
                }
            }
        }
    }

    /** A prompt prefilled in pieces (as the engine chunks long prompts) continues each piece's state exactly. */
    @Test
    void promptInPiecesEqualsPromptInOneStep() {
        int[] prompt = randomTokens(70, 5);
        int[][] pieces = {{0, 2}, {2, 31}, {31, 70}};   // a piece shorter than the convolution window, then longer
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 128)) {
            int vocab = model.config().vocabSize();
            float[] whole = new float[prompt.length * vocab];
            try (KvCache cache = model.newKvCache(prompt.length)) {
                ops.copyToHost(model.forward(prompt, prompt.length, 0, cache, true), whole, 0);
            }
            try (KvCache cache = model.newKvCache(prompt.length)) {
                for (int[] piece : pieces) {
                    int n = piece[1] - piece[0];
                    float[] logits = new float[n * vocab];
                    int[] tokens = java.util.Arrays.copyOfRange(prompt, piece[0], piece[1]);
                    ops.copyToHost(model.forward(tokens, n, piece[0], cache, true), logits, 0);
                    for (int i = 0; i < logits.length; i++) {
                        assertThat(logits[i]).as("logit %d at position %d", i % vocab, piece[0] + i / vocab)
                                .isCloseTo(whole[piece[0] * vocab + i], within(1e-4f));
                    }
                }
            }
        }
    }

    /**
     * Two sequences in one paged batch, each with its own state slot, then a decode step for both, give what each
     * gives alone; a third sequence starting in a used slot starts from an empty state.
     */
    @Test
    void batchedSequencesKeepTheirOwnStateSlots() {
        int[] a = randomTokens(9, 2);
        int[] b = randomTokens(5, 3);
        int[] c = randomTokens(6, 4);
        try (Qwen3NextModel model = (Qwen3NextModel) ModelLoader.load(dir, ops, 64)) {
            int vocab = model.config().vocabSize();
            float[][] alone = {aloneLogits(model, a, 7), aloneLogits(model, b, 11), aloneLogits(model, c, 0)};

            int blockSize = 4;
            try (KvCache cache = model.newPagedKvCache(12, blockSize, 3)) {
                int[] tableA = {5, 0, 7};
                int[] tableB = {2, 9};
                BatchLayout layout = new BatchLayout(blockSize);
                layout.add(0, a.length, tableA, 2);
                layout.add(0, b.length, tableB, 0);
                float[] logits = runBatch(model, cache, layout, concat(a, b), vocab);
                assertRow(logits, 0, alone[0], a.length - 1, vocab, "sequence a prefill");
                assertRow(logits, 1, alone[1], b.length - 1, vocab, "sequence b prefill");

                layout.clear();
                layout.add(a.length, 1, tableA, 2);
                layout.add(b.length, 1, tableB, 0);
                logits = runBatch(model, cache, layout, new int[] {7, 11}, vocab);
                assertRow(logits, 0, alone[0], a.length, vocab, "sequence a decode");
                assertRow(logits, 1, alone[1], b.length, vocab, "sequence b decode");

                // Sequence a is done; c takes its slot (and fresh blocks) and must not see a's state.
                layout.clear();
                layout.add(0, c.length, new int[] {1, 3}, 2);
                logits = runBatch(model, cache, layout, c, vocab);
                assertRow(logits, 0, alone[2], c.length - 1, vocab, "sequence c in a reused slot");
            }
        }
    }

    @Test
    void pagedCacheWithoutStateSlotsIsRefused() {
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 64)) {
            assertThatThrownBy(() -> model.newPagedKvCache(4, 4))
                    .isInstanceOf(ModelException.class)
                    .hasMessageContaining("maxSequences");
        }
    }

    @Test
    void batchWithoutStateSlotIsRefused() {
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 64);
             KvCache cache = model.newPagedKvCache(4, 4, 2)) {
            BatchLayout layout = new BatchLayout(4);
            layout.add(0, 2, new int[] {0});
            Tensor hidden = model.embed(new int[] {5, 6}, 2);
            assertThatThrownBy(() -> model.forwardLayers(hidden, layout, cache))
                    .isInstanceOf(ModelException.class)
                    .hasMessageContaining("state slot");
        }
    }

    /** Only the full-attention layers get KV pools; the linear ones a fixed state whatever the context. */
    @Test
    void cacheHoldsKeysOnlyForFullAttentionAndFixedStateForLinearLayers() {
        try (Qwen3NextModel model = (Qwen3NextModel) ModelLoader.load(dir, ops, 64);
             KvCache small = model.newPagedKvCache(2, 4, 3);
             KvCache large = model.newPagedKvCache(16, 4, 3)) {
            Qwen3NextConfig next = model.hybridConfig();
            assertThat(next.linearLayers()).containsExactly(true, false, true, false);
            assertThat(large.keys(1).rowCount()).isEqualTo(64);
            assertThatThrownBy(() -> large.keys(0)).hasMessageContaining("layer 0 keeps no keys");
            // Per linear layer: conv window (4 − 1) × 160 channels, delta state 4 heads × 16 × 24.
            long perLayer = (3L * 160 + 4L * 16 * 24) * Float.BYTES;
            assertThat(next.convStateWidth()).isEqualTo(3 * 160);
            assertThat(next.deltaStateWidth()).isEqualTo(4 * 16 * 24);
            assertThat(small.recurrentStates().bytesPerSlot()).isEqualTo(2 * perLayer);
            assertThat(large.recurrentStates().bytesPerSlot()).isEqualTo(2 * perLayer);
        }
    }

    /**
     * The per-layer weight estimate counts what each layer type really holds (every expert, the shared expert, the
     * linear-attention projections and small tensors), and a one-layer stage holds exactly that; the cache estimate
     * grows with the context for full attention only.
     */
    @Test
    void memoryEstimatesCountWhatEachLayerTypeNeeds() {
        long hidden = 64;
        long norms = 2 * hidden;
        long moe = 8 * hidden + 8 * 3 * 32 * hidden + 3 * 48 * hidden + hidden;
        long dense = 3 * 128 * hidden;
        long linear = 256 * hidden + 8 * hidden + 160 * 4 + 4 + 4 + 24 + hidden * 96;
        long full = 256 * hidden + 2 * 64 * hidden + hidden * 128 + 2 * 32;
        long bf16 = 2;
        assertThat(ModelLoader.layerWeightBytes(dir)).containsExactly((norms + linear + moe) * bf16,
                (norms + full + moe) * bf16, (norms + linear + dense) * bf16, (norms + full + moe) * bf16);

        ModelConfig config = ModelConfig.read(dir);
        try (CausalLanguageModel middle = ModelLoader.load(dir, config, ops,
                new ai.parallax.models.LayerRange(1, 3, 4), 64)) {
            assertThat(middle.weightBytes()).isEqualTo((2 * norms + full + moe + linear + dense) * bf16);
        }
        Qwen3NextConfig next = Qwen3NextConfig.parse(config, "config.json");
        long state = (3L * 160 + 4L * 16 * 24) * Float.BYTES;
        assertThat(next.cacheBytesPerSequence(config, 0, 10)).isEqualTo(state);
        assertThat(next.cacheBytesPerSequence(config, 0, 100_000)).isEqualTo(state);
        assertThat(next.cacheBytesPerSequence(config, 1, 10)).isEqualTo(2L * 10 * 64 * Float.BYTES);
    }

    @Test
    void unsupportedConfigValuesAreNamed() throws IOException {
        assertRefused("layer_types", json -> json.putArray("layer_types").add("linear_attention")
                .add("sliding_attention").add("linear_attention").add("full_attention"), "sliding_attention");
        assertRefused("linear heads", json -> json.put("linear_num_value_heads", 3), "linear_num_value_heads 3");
        assertRefused("hidden_act", json -> json.put("hidden_act", "gelu"), "hidden_act \"gelu\"");
        assertRefused("partial rotary", json -> json.put("partial_rotary_factor", 0.3), "partial_rotary_factor");
        assertRefused("attention_bias", json -> json.put("attention_bias", true), "attention_bias");
    }

    private static void assertRefused(String what, java.util.function.Consumer<ObjectNode> edit, String message)
            throws IOException {
        ObjectNode json = (ObjectNode) new ObjectMapper().readTree(Files.readString(dir.resolve("config.json")));
        edit.accept(json);
        ModelConfig config = ModelConfig.parse(json, "edited config.json");
        assertThatThrownBy(() -> Qwen3NextConfig.parse(config, "edited config.json")).as(what)
                .isInstanceOf(ModelException.class)
                .hasMessageContaining(message);
    }

    /** Logits of every position of {@code prompt} and then of {@code next}, run alone through a contiguous cache. */
    private static float[] aloneLogits(CausalLanguageModel model, int[] prompt, int next) {
        int vocab = model.config().vocabSize();
        float[] out = new float[(prompt.length + 1) * vocab];
        try (KvCache cache = model.newKvCache(prompt.length + 1)) {
            ops.copyToHost(model.forward(prompt, prompt.length, 0, cache, true), out, 0);
            float[] step = new float[vocab];
            ops.copyToHost(model.forward(new int[] {next}, 1, prompt.length, cache, false), step, 0);
            System.arraycopy(step, 0, out, prompt.length * vocab, vocab);
        }
        return out;
    }

    /** One batched step: embed, the paged forward pass, the logits of each sequence's last token. */
    private static float[] runBatch(CausalLanguageModel model, KvCache cache, BatchLayout layout, int[] tokens,
                                    int vocab) {
        Tensor hidden = model.embed(tokens, tokens.length);
        model.forwardLayers(hidden, layout, cache);
        int[] rows = layout.lastTokenRows();
        float[] logits = new float[rows.length * vocab];
        ops.copyToHost(model.logits(hidden, rows), logits, 0);
        return logits;
    }

    private static void assertRow(float[] logits, int row, float[] alone, int position, int vocab, String what) {
        for (int i = 0; i < vocab; i++) {
            assertThat(logits[row * vocab + i]).as("%s logit %d", what, i)
                    .isCloseTo(alone[position * vocab + i], within(1e-4f));
        }
    }

    private static int[] concat(int[] x, int[] y) {
        int[] all = java.util.Arrays.copyOf(x, x.length + y.length);
        System.arraycopy(y, 0, all, x.length, y.length);
        return all;
    }

    private static int[] randomTokens(int n, long seed) {
        Random random = new Random(seed);
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = 3 + random.nextInt(1500);
        }
        return tokens;
    }
}

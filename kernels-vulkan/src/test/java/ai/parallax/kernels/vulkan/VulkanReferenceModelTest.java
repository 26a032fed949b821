package ai.parallax.kernels.vulkan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The model-correctness suite on the Vulkan backend: every reference model in ../shared/models that the engine
 * supports, run unchanged through {@link VulkanOps}, must give the reference argmax at every position, logits
 * within 1e-2, and the reference greedy continuation token for token (decoding with the device-side argmax, one
 * submission per token).
 */
class VulkanReferenceModelTest {
    private static final double LOGIT_TOLERANCE = 1e-2;
    private static VulkanOps ops;

    @BeforeAll
    static void open() {
        ops = VulkanOps.open();
    }

    @AfterAll
    static void close() {
        ops.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "stories260K-bf16", "stories260K-f16", "tiny-random-qwen2",
            "tiny-random-qwen3", "tiny-random-qwen3-fp8", "tiny-random-qwen3-moe", "tiny-random-qwen3-next",
            "tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8", "tiny-random-gpt-oss"})
    void logitsAndArgmaxMatchReferenceAtEveryPosition(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512)) {
            int vocab = model.config().vocabSize();
            for (ReferenceCase c : ReferenceCase.read(dir)) {
                int n = c.inputIds().length;
                try (KvCache cache = model.newKvCache(n)) {
                    Tensor logits = model.forward(c.inputIds(), n, 0, cache, true);
                    float[] host = new float[n * vocab];
                    ops.copyToHost(logits, host, 0);
                    for (int p = 0; p < n; p++) {
                        assertThat(ops.argmax(logits, p)).as("%s device argmax at position %d", name, p)
                                .isEqualTo(c.argmaxPerPosition()[p]);
                        for (int i = 0; i < 16; i++) {
                            assertThat((double) host[p * vocab + i]).as("%s logit %d at position %d", name, i, p)
                                    .isCloseTo(c.logitsFirst16PerPosition()[p][i], within(LOGIT_TOLERANCE));
                        }
                    }
                    int lastRow = (n - 1) * vocab;
                    for (int i = 0; i < c.top5Ids().length; i++) {
                        assertThat((double) host[lastRow + c.top5Ids()[i]]).as("%s top-5 logit of %d", name,
                                c.top5Ids()[i]).isCloseTo(c.top5Logits()[i], within(LOGIT_TOLERANCE));
                    }
                }
            }
        }
    }

    /**
     * Dense models decode with one submission per token. MoE models (Qwen3-MoE, DeepSeek, gpt-oss) read each
     * layer's router logits back to the host, which picks the experts, so their steps take one submission per MoE
     * layer more; the expert work itself (gather, matmuls, weighted scatter-add) stays on the device.
     */
    @ParameterizedTest
    @CsvSource({"stories260K,true", "stories260K-bf16,true", "stories260K-f16,true", "tiny-random-qwen2,true",
            "tiny-random-qwen3,true", "tiny-random-qwen3-fp8,true", "tiny-random-qwen3-moe,false",
            "tiny-random-deepseek-v3-fp8,false", "tiny-random-gpt-oss,false"})
    void greedyContinuationMatchesReference(String name, boolean oneSubmissionPerToken) {
        Path dir = ReferenceCase.models().resolve(name);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512)) {
            for (ReferenceCase c : ReferenceCase.read(dir)) {
                int n = c.inputIds().length;
                int[] expected = c.greedyContinuation();
                try (KvCache cache = model.newKvCache(n + expected.length)) {
                    Tensor logits = model.forward(c.inputIds(), n, 0, cache, false);
                    int[] produced = new int[expected.length];
                    long submissionsBefore = ops.submissions();
                    for (int i = 0; i < expected.length; i++) {
                        produced[i] = ops.argmax(logits, 0);
                        logits = model.forward(new int[] {produced[i]}, 1, n + i, cache, false);
                    }
                    assertThat(produced).as("%s greedy continuation of %s", name, Arrays.toString(c.inputIds()))
                            .containsExactly(expected);
                    if (oneSubmissionPerToken) {
                        assertThat(ops.submissions() - submissionsBefore).as("%s submissions while decoding", name)
                                .isEqualTo(expected.length);
                    }
                }
            }
        }
    }

    /**
     * The engine's way of running: every reference prompt of a model prefilled together in one batch over a paged KV
     * pool whose blocks are handed out interleaved, then decoded together, one batched step per token. Each sequence
     * must produce its own reference continuation, and a step of a dense model, logits and every sequence's device
     * argmax included, must be one command-buffer submission.
     */
    @ParameterizedTest
    @CsvSource({"stories260K,true", "tiny-random-qwen3,true", "tiny-random-gpt-oss,false"})
    void batchedSequencesOverAPagedPoolGiveEachItsContinuation(String name, boolean oneSubmissionPerStep) {
        Path dir = ReferenceCase.models().resolve(name);
        List<ReferenceCase> cases = ReferenceCase.read(dir);
        int blockSize = 4;
        int sequences = cases.size();
        int longest = 0;
        for (ReferenceCase c : cases) {
            longest = Math.max(longest, c.inputIds().length + c.greedyContinuation().length);
        }
        int blocksPerSequence = (longest + blockSize - 1) / blockSize;
        // Block b of sequence s is pool block b * sequences + s: the sequences' blocks interleave.
        int[][] tables = new int[sequences][blocksPerSequence];
        for (int s = 0; s < sequences; s++) {
            for (int b = 0; b < blocksPerSequence; b++) {
                tables[s][b] = b * sequences + s;
            }
        }
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512);
             KvCache cache = model.newPagedKvCache(sequences * blocksPerSequence, blockSize, sequences)) {
            BatchLayout batch = new BatchLayout(blockSize);
            int total = 0;
            for (ReferenceCase c : cases) {
                total += c.inputIds().length;
            }
            int[] prompt = new int[total];
            int at = 0;
            for (int s = 0; s < sequences; s++) {
                int[] ids = cases.get(s).inputIds();
                System.arraycopy(ids, 0, prompt, at, ids.length);
                batch.add(0, ids.length, tables[s], s);
                at += ids.length;
            }
            int[] next = step(model, cache, prompt, batch);
            int steps = Integer.MAX_VALUE;
            for (ReferenceCase c : cases) {
                steps = Math.min(steps, c.greedyContinuation().length);
            }
            int[][] produced = new int[sequences][steps];
            for (int i = 0; i < steps; i++) {
                batch.clear();
                for (int s = 0; s < sequences; s++) {
                    produced[s][i] = next[s];
                    batch.add(cases.get(s).inputIds().length + i, 1, tables[s], s);
                }
                long before = ops.submissions();
                next = step(model, cache, next.clone(), batch);
                if (oneSubmissionPerStep) {
                    assertThat(ops.submissions() - before).as("%s submissions of batched step %d", name, i)
                            .isEqualTo(1);
                }
            }
            for (int s = 0; s < sequences; s++) {
                assertThat(produced[s]).as("%s sequence %d in a batch of %d", name, s, sequences)
                        .containsExactly(Arrays.copyOf(cases.get(s).greedyContinuation(), steps));
            }
        }
    }

    /** One batched step: the next token of every sequence, by device argmax over its last row's logits. */
    private static int[] step(CausalLanguageModel model, KvCache cache, int[] tokens, BatchLayout batch) {
        Tensor hidden = model.embed(tokens, tokens.length);
        model.forwardLayers(hidden, batch, cache);
        Tensor logits = model.logits(hidden, batch.lastTokenRows());
        int[] next = new int[batch.sequenceCount()];
        for (int s = 0; s < next.length; s++) {
            next[s] = ops.argmax(logits, s);
        }
        return next;
    }

    /**
     * Loading with a progress listener uploads the weights then, reporting the bytes; the forward pass finds every
     * weight it reads already on the device (experts' views of stacked tensors included) and uploads nothing more.
     */
    @ParameterizedTest
    @ValueSource(strings = {"stories260K-bf16", "tiny-random-qwen3", "tiny-random-qwen3-moe", "tiny-random-gpt-oss"})
    void weightsUploadedAtLoadServeTheForwardPass(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        ModelConfig config = ModelConfig.read(dir);
        long[] reported = new long[2];
        try (VulkanOps fresh = VulkanOps.open();
             CausalLanguageModel model = ModelLoader.load(dir, config, fresh, LayerRange.all(config.numLayers()), 512,
                     (done, total) -> {
                         reported[0] = done;
                         reported[1] = total;
                     })) {
            long uploaded = fresh.weightBytesOnDevice();
            assertThat(reported[0]).as("%s progress reaches the total", name).isEqualTo(reported[1]).isPositive();
            assertThat(uploaded).as("%s bytes on the device after loading", name).isEqualTo(reported[1]);
            ReferenceCase c = ReferenceCase.read(dir).getFirst();
            try (KvCache cache = model.newKvCache(c.inputIds().length)) {
                Tensor logits = model.forward(c.inputIds(), c.inputIds().length, 0, cache, false);
                assertThat(fresh.argmax(logits, 0)).isEqualTo(c.argmaxPerPosition()[c.inputIds().length - 1]);
            }
            assertThat(fresh.weightBytesOnDevice()).as("%s bytes on the device after a forward pass", name)
                    .isEqualTo(uploaded);
        }
    }

    /**
     * The path a discrete GPU without mappable device memory takes: activations only on the device (reached through
     * staging copies), weights uploaded through staging and split into 1 MiB buffers (Qwen's 151936-row embedding,
     * tied to its lm_head, becomes five).
     */
    @ParameterizedTest
    @ValueSource(strings = {"stories260K-bf16", "tiny-random-qwen3"})
    void deviceOnlyMemoryGivesTheSameContinuation(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        try (VulkanOps deviceOnly = VulkanOps.open(new VulkanOps.Options(-1, 1 << 20, false, true));
             CausalLanguageModel model = ModelLoader.load(dir, deviceOnly, 512)) {
            assertThat(deviceOnly.activationsMapped()).isFalse();
            ReferenceCase c = ReferenceCase.read(dir).getFirst();
            int n = c.inputIds().length;
            int[] expected = c.greedyContinuation();
            int vocab = model.config().vocabSize();
            float[] host = new float[vocab];
            try (KvCache cache = model.newKvCache(n + expected.length)) {
                Tensor logits = model.forward(c.inputIds(), n, 0, cache, false);
                deviceOnly.copyToHost(logits, host, 0);
                for (int i = 0; i < c.top5Ids().length; i++) {
                    assertThat((double) host[c.top5Ids()[i]]).as("%s top-5 logit of %d", name, c.top5Ids()[i])
                            .isCloseTo(c.top5Logits()[i], within(LOGIT_TOLERANCE));
                }
                int[] produced = new int[expected.length];
                for (int i = 0; i < expected.length; i++) {
                    produced[i] = deviceOnly.argmax(logits, 0);
                    logits = model.forward(new int[] {produced[i]}, 1, n + i, cache, false);
                }
                assertThat(produced).as("%s greedy continuation", name).containsExactly(expected);
            }
        }
    }
}

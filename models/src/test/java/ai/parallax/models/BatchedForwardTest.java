package ai.parallax.models;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One batched step over several sequences (prefills, chunks and decodes mixed, their KV blocks scattered over a
 * paged pool) gives each sequence the logits it gets when it runs alone with a contiguous cache.
 */
class BatchedForwardTest {
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
    @ValueSource(strings = {"stories260K", "tiny-random-qwen3", "tiny-random-deepseek-v3",
            "tiny-random-deepseek-v3-fp8", "tiny-random-gpt-oss"})
    void batchedStepGivesEachSequenceItsOwnLogits(String name) {
        Path dir = ReferenceCase.models().resolve(name);
        int[] a = {1, 403, 407, 261, 300, 350, 280, 290};
        int[] b = {1, 17, 99, 250, 3, 411, 12, 8, 77, 200, 5};
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 512);
             KvCache paged = model.newPagedKvCache(32, 4)) {
            int vocab = model.config().vocabSize();
            // Sequence A: prefill of its first 5 tokens (step 1), then its 6th token as a decode (step 2).
            // Sequence B: prefill of all its tokens in step 2 only. Blocks are handed out interleaved.
            int[] tableA = {7, 2, 30, 11};
            int[] tableB = new int[(b.length + 3) / 4];
            for (int i = 0; i < tableB.length; i++) {
                tableB[i] = 12 + i;
            }
            BatchLayout batch = new BatchLayout(4);
            batch.add(0, 5, tableA);
            model.forwardLayers(model.embed(a, 5), batch, paged);

            batch.clear();
            batch.add(5, 1, tableA);
            batch.add(0, b.length, tableB);
            int[] tokens = new int[1 + b.length];
            tokens[0] = a[5];
            System.arraycopy(b, 0, tokens, 1, b.length);
            Tensor hidden = model.forwardLayers(model.embed(tokens, tokens.length), batch, paged);
            Tensor logits = model.logits(hidden, batch.lastTokenRows());
            float[] batched = new float[2 * vocab];
            ops.copyToHost(logits, batched, 0);

            float[] aloneA = alone(model, a, 6);
            float[] aloneB = alone(model, b, b.length);
            for (int i = 0; i < vocab; i++) {
                assertThat(batched[i]).as("%s sequence A logit %d", name, i).isCloseTo(aloneA[i], within(1e-4f));
                assertThat(batched[vocab + i]).as("%s sequence B logit %d", name, i)
                        .isCloseTo(aloneB[i], within(1e-4f));
            }
        }
    }

    private static float[] alone(CausalLanguageModel model, int[] ids, int n) {
        try (KvCache cache = model.newKvCache(n)) {
            Tensor logits = model.forward(ids, n, 0, cache, false);
            float[] host = new float[model.config().vocabSize()];
            ops.copyToHost(logits, host, 0);
            return host;
        }
    }
}

package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * How far lossy activation dtypes move a pipeline's output. stories260K is split as the 3-node cluster splits it,
 * layers [0,2) [2,4) [4,5), and the hidden states cross both hops through {@link StepFrame}'s encoding, exactly as on
 * the wire. F32 is exact (the split itself is bit-identical, see LayerRangeModelTest), so F32 is the reference.
 *
 * <p>Measured (eight prompts × 64 tokens): max |Δlogit| 0.036–0.057 for BF16 and 0.15–0.19 for Q8; teacher-forced
 * argmax agrees at 511/512 positions in BF16 and 509/512 in Q8; free-running greedy output equals F32 on 7 of 8
 * prompts in BF16 and 6 of 8 in Q8.
 */
class ActivationDtypeAccuracyTest {
    private static final Path DIR = Path.of(System.getProperty("parallax.models"), "stories260K");
    private static final int[] CUTS = {0, 2, 4, 5};
    private static int[][] prompts;
    private static final int GENERATED = 64;
    private static Ops ops;
    private static List<CausalLanguageModel> stages;

    @BeforeAll
    static void load() {
        ops = new SimdOps(1);
        try {
            Tokenizer tokenizer = Tokenizer.load(DIR);
            prompts = Arrays.stream(ClusterPipelineTest.EIGHT_PROMPTS).map(p -> tokenizer.encode(p, true))
                    .toArray(int[][]::new);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        ModelConfig config = ModelConfig.read(DIR);
        stages = new ArrayList<>();
        for (int i = 0; i + 1 < CUTS.length; i++) {
            stages.add(ModelLoader.load(DIR, config, ops, new LayerRange(CUTS[i], CUTS[i + 1], CUTS[CUTS.length - 1]),
                    256));
        }
    }

    @AfterAll
    static void close() {
        stages.forEach(CausalLanguageModel::close);
        ops.close();
    }

    @Test
    void bf16AndQ8KeepTheGreedyTokensWithinMeasuredBounds() {
        int vocab = stages.getFirst().config().vocabSize();
        StringBuilder report = new StringBuilder();
        int totalAgree = 0;
        int total = 0;
        for (int[] prompt : prompts) {
            int[] reference = greedy(prompt, StepFrame.Payload.F32);
            int[] sequence = concat(prompt, reference);
            float[] exact = logits(sequence, StepFrame.Payload.F32);
            for (StepFrame.Payload dtype : List.of(StepFrame.Payload.BF16, StepFrame.Payload.Q8)) {
                // Teacher-forced: every position sees the reference prefix, so one early flip cannot cascade.
                float[] lossy = logits(sequence, dtype);
                float maxDiff = 0;
                int agree = 0;
                for (int p = prompt.length - 1; p < sequence.length - 1; p++) {
                    for (int v = 0; v < vocab; v++) {
                        maxDiff = Math.max(maxDiff, Math.abs(lossy[p * vocab + v] - exact[p * vocab + v]));
                    }
                    agree += argmax(lossy, p * vocab, vocab) == sequence[p + 1] ? 1 : 0;
                }
                int[] free = greedy(prompt, dtype);
                int firstDiff = 0;
                while (firstDiff < GENERATED && free[firstDiff] == reference[firstDiff]) {
                    firstDiff++;
                }
                report.append(String.format(java.util.Locale.ROOT,
                        "%s prompt %s: teacher-forced argmax %d/%d, max |Δlogit| %.4f, free greedy same for %d/%d%n",
                        dtype, Arrays.toString(prompt), agree, GENERATED, maxDiff, firstDiff, GENERATED));
                // Bounds measured on this model (see the report); a broken encoding lands far outside them.
                float bound = dtype == StepFrame.Payload.BF16 ? 0.1f : 0.3f;
                assertThat(maxDiff).as(report.toString()).isLessThan(bound);
                // Greedy decoding is not exact under lossy activations: near-ties flip. Teacher-forced, a flip
                // stays an isolated position (62/64 at worst measured, on "Tom had a red ball"); free-running, one
                // flip changes everything after it (that prompt matches F32 for 22 tokens in BF16, 34 in Q8).
                assertThat(agree).as(report.toString()).isGreaterThanOrEqualTo(GENERATED - 4);
                totalAgree += agree;
                total += GENERATED;
            }
        }
        assertThat((double) totalAgree / total).as(report.toString()).isGreaterThanOrEqualTo(0.98);
        System.out.print(report);
    }

    /** GENERATED greedy tokens, one decode step at a time through the stages. */
    private static int[] greedy(int[] prompt, StepFrame.Payload dtype) {
        int vocab = stages.getFirst().config().vocabSize();
        List<KvCache> caches = stages.stream().map(s -> s.newKvCache(256)).toList();
        try {
            int[] out = new int[GENERATED];
            float[] logits = run(prompt, 0, dtype, caches);
            int position = prompt.length;
            for (int i = 0; i < GENERATED; i++) {
                out[i] = argmax(logits, (prompt.length - 1) * vocab * (i == 0 ? 1 : 0), vocab);
                logits = run(new int[] {out[i]}, position++, dtype, caches);
            }
            return out;
        } finally {
            caches.forEach(KvCache::close);
        }
    }

    private static float[] logits(int[] tokens, StepFrame.Payload dtype) {
        List<KvCache> caches = stages.stream().map(s -> s.newKvCache(256)).toList();
        try {
            return run(tokens, 0, dtype, caches);
        } finally {
            caches.forEach(KvCache::close);
        }
    }

    /** One step of {@code tokens} from {@code start}: logits of every row. Each hop goes through the wire format. */
    private static float[] run(int[] tokens, int start, StepFrame.Payload dtype, List<KvCache> caches) {
        int width = stages.getFirst().config().hiddenSize();
        Tensor hidden = stages.getFirst().forwardLayers(stages.getFirst().embed(tokens, tokens.length), start,
                caches.getFirst());
        for (int s = 1; s < stages.size(); s++) {
            float[] wire = new float[tokens.length * width];
            ops.copyToHost(hidden, wire, 0);
            BatchLayout layout = new BatchLayout(1024);
            layout.add(start, tokens.length, new int[] {0});
            byte[] bytes = StepFrame.tokens(0, 0, layout, tokens, new int[] {0}).withHidden(dtype, wire, width)
                    .encode();
            Tensor received = stages.get(s).hiddenInput(tokens.length);
            ops.copyFromHost(StepFrame.decode(ByteBuffer.wrap(bytes)).values, 0, received);
            hidden = stages.get(s).forwardLayers(received, start, caches.get(s));
        }
        float[] logits = new float[tokens.length * stages.getLast().config().vocabSize()];
        ops.copyToHost(stages.getLast().logits(hidden, true), logits, 0);
        return logits;
    }

    private static int argmax(float[] values, int offset, int count) {
        int best = 0;
        for (int i = 1; i < count; i++) {
            if (values[offset + i] > values[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}

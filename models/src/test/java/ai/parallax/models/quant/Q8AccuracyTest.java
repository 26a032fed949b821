package ai.parallax.models.quant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.WeightQuantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.Checkpoint;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Q8 against the float32 stories260K and its reference outputs: each reference prompt followed by the reference's
 * own greedy continuation is run through the model (teacher forcing), so at every position the reference's top-1
 * token is the next token of that sequence.
 */
class Q8AccuracyTest {
    private static SimdOps ops;

    @BeforeAll
    static void start() {
        ops = new SimdOps(2);
    }

    @AfterAll
    static void stop() {
        ops.close();
    }

    /** A copy of stories260K in a scratch directory: loading as Q8 saves a copy beside the model. */
    private static Path stories(Path dir) throws IOException {
        Path source = Path.of(System.getProperty("parallax.models"), "stories260K");
        Path copy = dir.resolve("stories260K");
        Files.createDirectories(copy);
        for (String file : List.of("config.json", "model.safetensors", "expected.json")) {
            Files.copy(source.resolve(file), copy.resolve(file));
        }
        return copy;
    }

    private static List<int[]> referenceSequences(Path dir) throws IOException {
        List<int[]> sequences = new ArrayList<>();
        for (JsonNode c : new ObjectMapper().readTree(dir.resolve("expected.json").toFile()).get("cases")) {
            List<Integer> ids = new ArrayList<>();
            c.get("input_ids").forEach(n -> ids.add(n.asInt()));
            int promptLength = ids.size();
            c.get("greedy_continuation").forEach(n -> ids.add(n.asInt()));
            int[] seq = ids.stream().mapToInt(Integer::intValue).toArray();
            // The first element holds the prompt length, the rest the sequence.
            int[] withLength = new int[seq.length + 1];
            withLength[0] = promptLength;
            System.arraycopy(seq, 0, withLength, 1, seq.length);
            sequences.add(withLength);
        }
        return sequences;
    }

    /** Logits [positions, vocab] of a whole sequence. */
    private static float[] logits(CausalLanguageModel model, int[] ids) {
        int vocab = model.config().vocabSize();
        try (KvCache cache = model.newKvCache(ids.length)) {
            Tensor logits = model.forward(ids, ids.length, 0, cache, true);
            float[] host = new float[ids.length * vocab];
            ops.copyToHost(logits, host, 0);
            return host;
        }
    }

    private static CausalLanguageModel load(Path dir, WeightQuantization q) {
        ModelConfig config = ModelConfig.read(dir);
        return ModelLoader.load(dir, config, ops, LayerRange.all(config.numLayers()), 512, null, q);
    }

    @Test
    void q8AgreesWithTheReferenceTopTokenAndKeepsItsPerplexity(@TempDir Path tmp) throws IOException {
        Path dir = stories(tmp);
        int agree = 0;
        int positions = 0;
        double nllFloat = 0;
        double nllQ8 = 0;
        int scored = 0;
        try (CausalLanguageModel reference = load(dir, WeightQuantization.NONE);
             CausalLanguageModel q8 = load(dir, WeightQuantization.Q8)) {
            int vocab = reference.config().vocabSize();
            // F32 matrices become about 1.1 bytes a weight; the embedding table stays F32 for the lookups.
            assertThat(q8.weightBytes()).isLessThan(reference.weightBytes() / 2);
            for (int[] entry : referenceSequences(dir)) {
                int promptLength = entry[0];
                int[] ids = java.util.Arrays.copyOfRange(entry, 1, entry.length);
                float[] f = logits(reference, ids);
                float[] q = logits(q8, ids);
                for (int p = 0; p + 1 < ids.length; p++) {
                    positions++;
                    if (argmax(q, p * vocab, vocab) == ids[p + 1]) {
                        agree++;
                    }
                    if (p + 1 >= promptLength) {
                        nllFloat -= logSoftmax(f, p * vocab, vocab, ids[p + 1]);
                        nllQ8 -= logSoftmax(q, p * vocab, vocab, ids[p + 1]);
                        scored++;
                    }
                }
            }
        }
        double agreement = (double) agree / positions;
        double pplFloat = Math.exp(nllFloat / scored);
        double pplQ8 = Math.exp(nllQ8 / scored);
        System.out.printf("Q8 stories260K: top-1 agreement %.1f%% of %d positions; perplexity %.4f -> %.4f (%+.2f%%)%n",
                100 * agreement, positions, pplFloat, pplQ8, 100 * (pplQ8 / pplFloat - 1));
        assertThat(agreement).as("top-1 agreement with the reference").isGreaterThanOrEqualTo(0.95);
        assertThat(Math.abs(pplQ8 / pplFloat - 1)).as("relative perplexity change").isLessThan(0.02);
    }

    @Test
    void q8CopyIsSavedBesideTheModelAndMappedOnTheNextLoad(@TempDir Path tmp) throws IOException {
        Path dir = stories(tmp);
        int[] ids = {1, 403, 407, 261, 378};
        float[] first;
        try (CausalLanguageModel q8 = load(dir, WeightQuantization.Q8)) {
            first = logits(q8, ids);
        }
        Path saved = dir.resolve(Q8Store.DIRECTORY).resolve(Q8Store.FILE);
        assertThat(saved).exists();
        try (Checkpoint checkpoint = Checkpoint.open(dir); Q8Store store = Q8Store.of(checkpoint)) {
            assertThat(store.isSaved()).isTrue();
            assertThat(store.find("model.layers.0.mlp.up_proj.weight", 172, 64)).isNotNull();
            // The tied lm_head has its own Q8 copy.
            assertThat(store.find("lm_head.weight", 512, 64)).isNotNull();
        }
        long savedAt = Files.getLastModifiedTime(saved).toMillis();
        // The same int8 weights give the same logits; only the kernels' order of summing vector lanes may differ in
        // the last bits between two runs of one JVM (interpreted, C1 or C2 code), so they agree to 1e-4, while a
        // copy that was not the model's would be off by whole units.
        try (CausalLanguageModel again = load(dir, WeightQuantization.Q8)) {
            assertThat(logits(again, ids)).containsExactly(first, within(1e-4f));
        }
        assertThat(Files.getLastModifiedTime(saved).toMillis()).as("the current copy is not rewritten")
                .isEqualTo(savedAt);

        // Changing the source checkpoint makes the copy stale: it is ignored and replaced.
        Files.setLastModifiedTime(dir.resolve("model.safetensors"), FileTime.fromMillis(savedAt + 60_000));
        try (Checkpoint checkpoint = Checkpoint.open(dir); Q8Store store = Q8Store.of(checkpoint)) {
            assertThat(store.isSaved()).isFalse();
        }
        try (CausalLanguageModel rebuilt = load(dir, WeightQuantization.Q8)) {
            assertThat(logits(rebuilt, ids)).containsExactly(first, within(1e-4f));
        }
        try (Checkpoint checkpoint = Checkpoint.open(dir); Q8Store store = Q8Store.of(checkpoint)) {
            assertThat(store.isSaved()).isTrue();
        }
    }

    private static int argmax(float[] v, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[offset + i] > v[offset + best]) {
                best = i;
            }
        }
        return best;
    }

    private static double logSoftmax(float[] v, int offset, int n, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, v[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(v[offset + i] - max);
        }
        return v[offset + token] - max - Math.log(sum);
    }
}

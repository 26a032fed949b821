package ai.parallax.models.synthetic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LoadProgress;
import ai.parallax.models.ModelException;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.Checkpoint;
import ai.parallax.tensors.safetensors.SafetensorsWriter.Entry;
import ai.parallax.tensors.safetensors.TensorInfo;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FamilyShapeTest {
    private static final List<String> REFERENCE_MODELS = List.of("tiny-random-gpt-oss", "tiny-random-deepseek-v3",
            "tiny-random-deepseek-v3-fp8", "tiny-random-qwen3-next");

    private static Path models() {
        return Path.of(System.getProperty("parallax.models"));
    }

    private static FamilyShape referenceShape(String model) throws IOException {
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree(models().resolve(model).resolve("config.json")
                .toFile());
        return new FamilyShape(model, null, config);
    }

    /** name → "DTYPE [shape]" of a checkpoint on disk. */
    private static Map<String, String> layoutOf(Path dir) {
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            Map<String, String> layout = new TreeMap<>();
            for (String name : checkpoint.tensorNames()) {
                TensorInfo info = checkpoint.info(name).orElseThrow();
                layout.put(name, info.dtype() + " " + Arrays.toString(info.shape()));
            }
            return layout;
        }
    }

    private static Map<String, String> layoutOf(List<Entry> entries) {
        return entries.stream().collect(Collectors.toMap(Entry::name,
                e -> e.dtype() + " " + Arrays.toString(e.shape()), (a, b) -> a, TreeMap::new));
    }

    @Test
    void layoutFromEachReferenceConfigIsTheOfficialCheckpointsLayout() throws IOException {
        // The tiny reference models were written by the official modeling code; the layout synth derives from their
        // config.json must name, type and shape every tensor exactly as they do.
        for (String model : REFERENCE_MODELS) {
            List<Entry> planned = new SyntheticCheckpoint(referenceShape(model), 0).entries();
            assertThat(layoutOf(planned)).as(model).isEqualTo(layoutOf(models().resolve(model)));
        }
    }

    @Test
    void randomCheckpointsOfTheReferenceLayoutsLoadAndGiveLogitsOfOrderOne(@TempDir Path dir) throws IOException {
        for (String model : REFERENCE_MODELS) {
            Path out = dir.resolve(model);
            new SyntheticCheckpoint(referenceShape(model), 3).write(out, null, 1L << 30, LoadProgress.NONE);
            try (SimdOps ops = new SimdOps(2);
                 CausalLanguageModel loaded = ModelLoader.load(out, ops, 64);
                 KvCache cache = loaded.newKvCache(8)) {
                Tensor logits = loaded.forward(new int[] {1, 2, 3, 4}, 4, 0, cache, false);
                float[] values = new float[loaded.config().vocabSize()];
                ops.copyToHost(logits, values, 0);
                double sumSquares = 0;
                for (float v : values) {
                    assertThat(v).as(model).isFinite();
                    sumSquares += v * v;
                }
                assertThat(Math.sqrt(sumSquares / values.length)).as(model).isBetween(0.05, 20.0);
            }
        }
    }

    @Test
    void publishedShapesHaveTheirPublishedParameterCounts() {
        // Totals from the model cards: gpt-oss-20b 21B (20.9), gpt-oss-120b 117B, DeepSeek-V3 671B without its
        // 14B multi-token-prediction layer, Kimi-K2 1T (1.03), Qwen3-Next 80B.
        Map<String, double[]> billions = Map.of(
                "gpt-oss-20b", new double[] {20.5, 21.5},
                "gpt-oss-120b", new double[] {116, 118},
                "deepseek-v3", new double[] {668, 674},
                "kimi-k2", new double[] {1020, 1045},
                "qwen3-next-80b-a3b", new double[] {79, 82});
        for (String name : FamilyShape.names()) {
            double parameters = new SyntheticCheckpoint(FamilyShape.named(name), 0).parameterCount() / 1e9;
            assertThat(parameters).as(name).isBetween(billions.get(name)[0], billions.get(name)[1]);
        }
    }

    @Test
    void layerSlicesOfEveryPublishedShapeLoadWithTheirRealTensorShapes(@TempDir Path dir) throws IOException {
        // Written with holes for data: the full layout of GBs of layers on almost no disk. The loader checks every
        // tensor's shape and type against the config it reads.
        Map<String, Integer> slices = Map.of("gpt-oss-20b", 2, "gpt-oss-120b", 2, "deepseek-v3", 4, "kimi-k2", 2,
                "qwen3-next-80b-a3b", 4);
        for (String name : FamilyShape.names()) {
            FamilyShape slice = FamilyShape.named(name).withLayers(slices.get(name));
            Path out = dir.resolve(name);
            SyntheticCheckpoint checkpoint = new SyntheticCheckpoint(slice, 0);
            List<Entry> planned = checkpoint.entries();
            checkpoint.write(out, null, SyntheticCheckpoint.DEFAULT_MAX_SHARD_BYTES, LoadProgress.NONE, true);

            assertThat(layoutOf(out)).as(name).isEqualTo(layoutOf(planned));
            ModelConfig config = ModelConfig.read(out);
            assertThat(config.numLayers()).as(name).isEqualTo(slices.get(name));
            assertThat(planned).as(name).noneMatch(e -> e.name().startsWith("model.layers." + slices.get(name) + "."));
            long[] perLayer = ModelLoader.layerWeightBytes(out);
            assertThat(perLayer).as(name).hasSize(slices.get(name));
            for (int layer = 0; layer < perLayer.length; layer++) {
                String prefix = "model.layers." + layer + ".";
                long plannedBytes = planned.stream().filter(e -> e.name().startsWith(prefix))
                        .mapToLong(Entry::byteSize).sum();
                // The loader's estimate counts every stored tensor of the layer (DeepSeek adds its absorbed
                // attention matrices on top).
                assertThat(perLayer[layer]).as("%s layer %d", name, layer).isGreaterThanOrEqualTo(plannedBytes);
            }
            try (SimdOps ops = new SimdOps(1);
                 CausalLanguageModel loaded = ModelLoader.load(out, ops, 64)) {
                assertThat(loaded.layers().count()).as(name).isEqualTo(slices.get(name));
            }
        }
    }

    @Test
    void deepSeekSliceKeepsThreeDenseLayersBeforeTheFirstMixtureOfExperts() {
        List<Entry> planned = new SyntheticCheckpoint(FamilyShape.named("deepseek-v3").withLayers(4), 0).entries();
        for (int layer = 0; layer < 3; layer++) {
            String prefix = "model.layers." + layer + ".mlp.";
            assertThat(planned).anyMatch(e -> e.name().equals(prefix + "gate_proj.weight"));
            assertThat(planned).noneMatch(e -> e.name().startsWith(prefix + "experts."));
        }
        assertThat(planned).filteredOn(e -> e.name().startsWith("model.layers.3.mlp.experts.")
                && e.name().endsWith("gate_proj.weight")).hasSize(256);
        // One MoE layer of 256 FP8 experts: 256 · 3 · 7168 · 2048 bytes, plus their block scales.
        long expertBytes = planned.stream().filter(e -> e.name().startsWith("model.layers.3.mlp.experts."))
                .mapToLong(Entry::byteSize).sum();
        assertThat(expertBytes).isBetween(256L * 3 * 7168 * 2048, 256L * 3 * 7168 * 2048 * 101 / 100);
    }

    @Test
    void gptOssSliceKeepsTheAlternationOfSlidingAndFullLayers() {
        ObjectNode config = FamilyShape.named("gpt-oss-20b").withLayers(3).config();
        assertThat(config.get("layer_types").toString())
                .isEqualTo("[\"sliding_attention\",\"full_attention\",\"sliding_attention\"]");
        assertThat(config.get("num_hidden_layers").asInt()).isEqualTo(3);
    }

    @Test
    void sliceOutsideTheModelIsRefusedNamingTheLayers() {
        assertThatThrownBy(() -> FamilyShape.named("kimi-k2").withLayers(62)).isInstanceOf(ModelException.class)
                .hasMessageContaining("--layers 62").hasMessageContaining("[1, 61]");
        assertThatThrownBy(() -> FamilyShape.named("gpt-oss-7b")).isInstanceOf(ModelException.class)
                .hasMessageContaining("gpt-oss-20b");
    }

    @Test
    void holesCostNoDiskButGiveFullSizeFiles(@TempDir Path dir) throws IOException {
        FamilyShape slice = FamilyShape.named("qwen3-next-80b-a3b").withLayers(1);
        long freeBefore = Files.getFileStore(dir).getUsableSpace();
        SyntheticCheckpoint.Summary summary = new SyntheticCheckpoint(slice, 0)
                .write(dir, null, SyntheticCheckpoint.DEFAULT_MAX_SHARD_BYTES, LoadProgress.NONE, true);
        long fileBytes = 0;
        for (Path shard : summary.shards()) {
            fileBytes += Files.size(shard);
        }
        assertThat(fileBytes).isGreaterThan(summary.tensorBytes());
        assertThat(summary.tensorBytes()).isGreaterThan(3L << 30);
        // Over 3 GiB of tensors, yet the disk lost far less (other writers on the machine get 1 GiB of slack).
        assertThat(freeBefore - Files.getFileStore(dir).getUsableSpace()).isLessThan(1L << 30);
    }
}

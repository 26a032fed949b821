package ai.parallax.models.synthetic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LoadProgress;
import ai.parallax.models.ModelException;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.synthetic.SyntheticCheckpoint.WeightFormat;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.safetensors.Checkpoint;
import ai.parallax.tensors.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticCheckpointTest {

    private static Path models() {
        return Path.of(System.getProperty("parallax.models"));
    }

    @Test
    void tinyShapeRoundTripsThroughTheLoaderAndRuns(@TempDir Path dir) throws IOException {
        ModelShape tiny = ModelShape.named("tiny");
        // Small shards so that the index and several files are exercised.
        SyntheticCheckpoint.Summary summary = new SyntheticCheckpoint(tiny, WeightFormat.BF16, 7)
                .write(dir, models().resolve("stories260K"), 64 << 10, LoadProgress.NONE);

        assertThat(summary.shards()).hasSizeGreaterThan(2);
        assertThat(dir.resolve(SafetensorsWriter.INDEX_FILE)).exists();
        assertThat(dir.resolve("tokenizer.json")).exists();
        ModelConfig config = ModelConfig.read(dir);
        assertThat(config.hiddenSize()).isEqualTo(tiny.hiddenSize());
        assertThat(config.numLayers()).isEqualTo(tiny.numLayers());
        assertThat(config.numKeyValueHeads()).isEqualTo(tiny.numKeyValueHeads());

        try (SimdOps ops = new SimdOps(2);
             CausalLanguageModel model = ModelLoader.load(dir, ops, 64);
             KvCache cache = model.newKvCache(16)) {
            assertThat(model.weightBytes()).isEqualTo(summary.tensorBytes());
            Tensor logits = model.forward(new int[] {1, 300, 42, 7}, 4, 0, cache, false);
            float[] values = new float[tiny.vocabSize()];
            ops.copyToHost(logits, values, 0);
            double sumSquares = 0;
            for (float v : values) {
                assertThat(v).isFinite();
                sumSquares += v * v;
            }
            // Weights of variance 1/fan_in keep the normalised hidden state's logits of order one: neither vanishing
            // nor blowing up through the layers.
            double rms = Math.sqrt(sumSquares / values.length);
            assertThat(rms).isBetween(0.1, 10.0);
        }
    }

    @Test
    void fp8AndMixtureOfExpertsShapesLoadAndRun(@TempDir Path dir) throws IOException {
        for (String name : new String[] {"tiny", "tiny-moe"}) {
            for (WeightFormat format : new WeightFormat[] {WeightFormat.BF16, WeightFormat.FP8}) {
                Path model = dir.resolve(name + "-" + format);
                new SyntheticCheckpoint(ModelShape.named(name), format, 2).write(model, null, 1L << 30,
                        LoadProgress.NONE);
                try (SimdOps ops = new SimdOps(2);
                     CausalLanguageModel loaded = ModelLoader.load(model, ops, 64);
                     KvCache cache = loaded.newKvCache(8)) {
                    Tensor logits = loaded.forward(new int[] {1, 2, 3}, 3, 0, cache, false);
                    float[] values = new float[512];
                    ops.copyToHost(logits, values, 0);
                    assertThat(rms(values)).as("%s %s", name, format).isFinite();
                    assertThat(rms(values)).as("%s %s", name, format).isBetween(0.1, 10.0);
                }
            }
        }
    }

    private static double rms(float[] values) {
        double sumSquares = 0;
        for (float v : values) {
            sumSquares += v * v;
        }
        return Math.sqrt(sumSquares / values.length);
    }

    @Test
    void weightsHaveTheIntendedSpreadAndNormsAreNearOne(@TempDir Path dir) throws IOException {
        ModelShape tiny = ModelShape.named("tiny");
        new SyntheticCheckpoint(tiny, WeightFormat.F32, 1).write(dir, null, 1L << 30, LoadProgress.NONE);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            Tensor up = checkpoint.tensor("model.layers.1.mlp.up_proj.weight");
            double[] moments = moments(up);
            assertThat(moments[0]).isCloseTo(0, within(0.01));
            assertThat(moments[1]).isCloseTo(1.0 / tiny.hiddenSize(), within(0.1 / tiny.hiddenSize()));
            double[] norm = moments(checkpoint.tensor("model.layers.0.input_layernorm.weight"));
            assertThat(norm[0]).isCloseTo(1.0, within(0.02));
            assertThat(Math.sqrt(norm[1])).isLessThan(0.05);
        }
    }

    @Test
    void sameSeedGivesSameWeightsWhateverTheSharding(@TempDir Path dir) throws IOException {
        ModelShape tiny = ModelShape.named("tiny");
        Path whole = dir.resolve("whole");
        Path sharded = dir.resolve("sharded");
        Path other = dir.resolve("other");
        new SyntheticCheckpoint(tiny, WeightFormat.BF16, 3).write(whole, null, 1L << 30, LoadProgress.NONE);
        new SyntheticCheckpoint(tiny, WeightFormat.BF16, 3).write(sharded, null, 32 << 10, LoadProgress.NONE);
        new SyntheticCheckpoint(tiny, WeightFormat.BF16, 4).write(other, null, 1L << 30, LoadProgress.NONE);
        String name = "model.layers.1.self_attn.o_proj.weight";
        try (Checkpoint a = Checkpoint.open(whole); Checkpoint b = Checkpoint.open(sharded);
             Checkpoint c = Checkpoint.open(other)) {
            assertThat(a.tensor(name).data().mismatch(b.tensor(name).data())).isEqualTo(-1);
            assertThat(a.tensor(name).data().mismatch(c.tensor(name).data())).isNotEqualTo(-1);
        }
    }

    @Test
    void fp8CheckpointHasBlockScalesAndAQuantizationConfig(@TempDir Path dir) throws IOException {
        ModelShape tiny = ModelShape.named("tiny");
        new SyntheticCheckpoint(tiny, WeightFormat.FP8, 5).write(dir, null, 1L << 30, LoadProgress.NONE);
        JsonNode config = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        JsonNode q = config.get("quantization_config");
        assertThat(q.get("quant_method").asText()).isEqualTo("fp8");
        assertThat(q.get("fmt").asText()).isEqualTo("e4m3");
        assertThat(q.get("weight_block_size").toString()).isEqualTo("[128,128]");
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            Tensor gate = checkpoint.tensor("model.layers.0.mlp.gate_proj.weight");
            Tensor scales = checkpoint.tensor("model.layers.0.mlp.gate_proj.weight_scale_inv");
            assertThat(gate.dtype()).isEqualTo(DType.F8_E4M3);
            // [176, 64] in blocks of 128: 2 × 1 blocks.
            assertThat(scales.shape()).containsExactly(2, 1);
            assertThat(scales.dtype()).isEqualTo(DType.F32);
            assertThat(checkpoint.tensor("model.embed_tokens.weight").dtype()).isEqualTo(DType.BF16);
            assertThat(checkpoint.tensor("model.norm.weight").dtype()).isEqualTo(DType.BF16);
            // Dequantised, the weights have the same spread as the BF16 ones: variance 1/fan_in.
            float scale = FloatFormats.readFloat(scales, 0);
            double sumSquares = 0;
            for (long i = 0; i < gate.elementCount(); i++) {
                double w = FloatFormats.f8e4m3ToFloat(gate.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, i)) * scale;
                sumSquares += w * w;
            }
            assertThat(sumSquares / gate.elementCount())
                    .isCloseTo(1.0 / tiny.hiddenSize(), within(0.15 / tiny.hiddenSize()));
        }
    }

    @Test
    void fp8EncodingInvertsTheDecoderForEveryCode() {
        for (int code = 0; code < 256; code++) {
            byte b = (byte) code;
            float value = FloatFormats.f8e4m3ToFloat(b);
            if (Float.isNaN(value)) {
                continue;
            }
            assertThat(SyntheticCheckpoint.floatToF8e4m3(value)).as("code 0x%02x (%s)", code, value).isEqualTo(b);
        }
        // Halfway between 1.0 (mantissa 0) and 1.125 (mantissa 1) rounds to the even mantissa; beyond 448 saturates.
        assertThat(SyntheticCheckpoint.floatToF8e4m3(1.0625f)).isEqualTo((byte) 0x38);
        assertThat(SyntheticCheckpoint.floatToF8e4m3(1000f)).isEqualTo((byte) 0x7E);
    }

    @Test
    void generationMemoryStaysBoundedForALargeModel(@TempDir Path dir) throws IOException {
        // About 100 MB of BF16 weights; the writer must stream them rather than build them in memory.
        ModelShape shape = new ModelShape("bounded", "llama", "none", 1024, 4096, 3, 8, 8, 128, 8192, 10000.0, null,
                4096, 1e-5, false, 1, 2, 0, 0, 0);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = threads.getCurrentThreadAllocatedBytes();
        SyntheticCheckpoint.Summary summary = new SyntheticCheckpoint(shape, WeightFormat.BF16, 9)
                .write(dir, null, 64L << 20, LoadProgress.NONE);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertThat(summary.tensorBytes()).isGreaterThan(90L << 20);
        long onDisk = 0;
        for (Path shard : summary.shards()) {
            onDisk += Files.size(shard);
        }
        assertThat(onDisk).isGreaterThan(summary.tensorBytes());
        assertThat(allocated).as("bytes allocated while writing %d bytes", summary.tensorBytes())
                .isLessThan(summary.tensorBytes() / 32);
    }

    @Test
    void publishedShapesHaveTheirPublishedParameterCounts() {
        assertThat(ModelShape.named("llama-3.2-1b").parameterCount()).isBetween(1_230_000_000L, 1_240_000_000L);
        assertThat(ModelShape.named("llama-3.1-8b").parameterCount()).isBetween(8_020_000_000L, 8_040_000_000L);
        assertThat(ModelShape.named("qwen3-0.6b").parameterCount()).isBetween(590_000_000L, 600_000_000L);
        assertThat(ModelShape.named("qwen3-1.7b").parameterCount()).isBetween(1_700_000_000L, 1_730_000_000L);
        assertThat(ModelShape.named("qwen3-8b").parameterCount()).isBetween(8_180_000_000L, 8_200_000_000L);
        assertThat(ModelShape.named("qwen3-30b-a3b").parameterCount()).isBetween(30_400_000_000L, 30_600_000_000L);
    }

    @Test
    void unknownShapeAndDtypeAreNamed() {
        assertThatThrownBy(() -> ModelShape.named("llama-9b")).isInstanceOf(ModelException.class)
                .hasMessageContaining("llama-9b").hasMessageContaining("qwen3-1.7b");
        assertThatThrownBy(() -> WeightFormat.parse("int4")).isInstanceOf(ModelException.class)
                .hasMessageContaining("int4").hasMessageContaining("fp8");
    }

    private static double[] moments(Tensor t) {
        double sum = 0;
        double sumSquares = 0;
        long n = t.elementCount();
        for (long i = 0; i < n; i++) {
            double v = FloatFormats.readFloat(t, i);
            sum += v;
            sumSquares += v * v;
        }
        double mean = sum / n;
        return new double[] {mean, sumSquares / n - mean * mean};
    }
}

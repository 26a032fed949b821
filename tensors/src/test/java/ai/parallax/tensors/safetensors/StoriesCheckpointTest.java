package ai.parallax.tensors.safetensors;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

import static org.assertj.core.api.Assertions.assertThat;

/** Reads the real stories260K checkpoints in ../shared/models and checks them against their config.json. */
class StoriesCheckpointTest {
    private static Path models;

    @BeforeAll
    static void findModels() {
        String property = System.getProperty("parallax.models");
        assertThat(property).as("system property parallax.models (set by the build)").isNotNull();
        models = Path.of(property);
    }

    @Test
    void namesShapesAndDtypesFollowConfigJson() throws IOException {
        Path dir = models.resolve("stories260K");
        JsonNode config = JsonMapper.builder().build().readTree(dir.resolve("config.json").toFile());
        int hidden = config.get("hidden_size").intValue();
        int layers = config.get("num_hidden_layers").intValue();
        int vocab = config.get("vocab_size").intValue();
        int heads = config.get("num_attention_heads").intValue();
        int kvHeads = config.get("num_key_value_heads").intValue();
        int intermediate = config.get("intermediate_size").intValue();
        int headDim = hidden / heads;
        assertThat(List.of(hidden, layers, vocab, heads, kvHeads, intermediate, headDim))
                .containsExactly(64, 5, 512, 8, 4, 172, 8);

        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            List<String> expected = new ArrayList<>();
            expected.add("model.embed_tokens.weight");
            expected.add("model.norm.weight");
            for (int l = 0; l < layers; l++) {
                String p = "model.layers." + l + ".";
                expected.addAll(List.of(p + "input_layernorm.weight", p + "post_attention_layernorm.weight",
                        p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight",
                        p + "self_attn.o_proj.weight", p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight",
                        p + "mlp.down_proj.weight"));
            }
            assertThat(checkpoint.tensorNames()).as("tied embeddings: no lm_head").containsExactlyInAnyOrderElementsOf(expected);

            assertShape(checkpoint, "model.embed_tokens.weight", vocab, hidden);
            assertShape(checkpoint, "model.norm.weight", hidden);
            for (int l = 0; l < layers; l++) {
                String p = "model.layers." + l + ".";
                assertShape(checkpoint, p + "input_layernorm.weight", hidden);
                assertShape(checkpoint, p + "post_attention_layernorm.weight", hidden);
                assertShape(checkpoint, p + "self_attn.q_proj.weight", heads * headDim, hidden);
                assertShape(checkpoint, p + "self_attn.k_proj.weight", kvHeads * headDim, hidden);
                assertShape(checkpoint, p + "self_attn.v_proj.weight", kvHeads * headDim, hidden);
                assertShape(checkpoint, p + "self_attn.o_proj.weight", hidden, heads * headDim);
                assertShape(checkpoint, p + "mlp.gate_proj.weight", intermediate, hidden);
                assertShape(checkpoint, p + "mlp.up_proj.weight", intermediate, hidden);
                assertShape(checkpoint, p + "mlp.down_proj.weight", hidden, intermediate);
            }
            assertThat(checkpoint.info("model.layers.0.self_attn.k_proj.weight").orElseThrow().shape())
                    .containsExactly(32, 64);
            assertThat(checkpoint.byteSize(checkpoint.tensorNames())).as("260,032 F32 parameters")
                    .isEqualTo(260_032L * 4);
            for (String name : checkpoint.tensorNames()) {
                assertThat(checkpoint.info(name).orElseThrow().dtype()).as(name).isEqualTo(DType.F32);
            }
        }
    }

    private static void assertShape(Checkpoint checkpoint, String name, long... shape) {
        assertThat(checkpoint.info(name).orElseThrow().shape()).as(name).containsExactly(shape);
    }

    @Test
    void valuesMatchAnIndependentReadOfTheFile() {
        // Reference values printed by Python's struct.unpack('<4f', ...) at the tensors' offsets.
        try (SafetensorsFile file = SafetensorsFile.open(models.resolve("stories260K/model.safetensors"))) {
            assertThat(file.metadata()).containsEntry("format", "pt");
            Tensor embed = file.tensor("model.embed_tokens.weight");
            assertThat(floats(4, i -> FloatFormats.readFloat(embed, i)))
                    .containsExactly(-0.29474878311157227f, 0.5618956089019775f, 0.1754225343465805f,
                            0.34057360887527466f);
            Tensor norm = file.tensor("model.norm.weight");
            assertThat(floats(2, i -> FloatFormats.readFloat(norm, i)))
                    .containsExactly(2.4583089351654053f, 1.3673226833343506f);
            Tensor k4 = file.tensor("model.layers.4.self_attn.k_proj.weight");
            assertThat(floats(2, i -> FloatFormats.readFloat(k4, i)))
                    .containsExactly(-0.025860849767923355f, 0.03121275268495083f);
        }
    }

    @Test
    void bf16AndF16CopiesAreTheF32WeightsRoundedToNearestEven() {
        // The READMEs say both copies are the F32 weights rounded to nearest even; compare every element's bits.
        try (Checkpoint f32 = Checkpoint.open(models.resolve("stories260K"));
             Checkpoint bf16 = Checkpoint.open(models.resolve("stories260K-bf16"));
             Checkpoint f16 = Checkpoint.open(models.resolve("stories260K-f16"))) {
            assertThat(bf16.tensorNames()).containsExactlyInAnyOrderElementsOf(f32.tensorNames());
            assertThat(f16.tensorNames()).containsExactlyInAnyOrderElementsOf(f32.tensorNames());
            for (String name : f32.tensorNames()) {
                Tensor reference = f32.tensor(name);
                Tensor b = bf16.tensor(name);
                Tensor h = f16.tensor(name);
                assertThat(b.dtype()).isEqualTo(DType.BF16);
                assertThat(h.dtype()).isEqualTo(DType.F16);
                assertThat(b.shape()).isEqualTo(reference.shape());
                for (long i = 0; i < reference.elementCount(); i++) {
                    float value = FloatFormats.readFloat(reference, i);
                    assertThat(FloatFormats.readFloat(b, i)).as("%s[%d]", name, i)
                            .isEqualTo(FloatFormats.bf16ToFloat(FloatFormats.floatToBf16(value)));
                    assertThat(FloatFormats.readFloat(h, i)).as("%s[%d]", name, i)
                            .isEqualTo(FloatFormats.f16ToFloat(FloatFormats.floatToF16(value)));
                }
            }
        }
    }

    @Test
    void fp8CheckpointHeadersAreReadWithTheirScales() {
        try (Checkpoint checkpoint = Checkpoint.open(models.resolve("tiny-random-qwen3-fp8"))) {
            TensorInfo down = checkpoint.info("model.layers.0.mlp.down_proj.weight").orElseThrow();
            assertThat(down.dtype()).isEqualTo(DType.F8_E4M3);
            assertThat(down.shape()).containsExactly(256, 320);
            TensorInfo scale = checkpoint.info("model.layers.0.mlp.down_proj.weight_scale_inv").orElseThrow();
            assertThat(scale.dtype()).isEqualTo(DType.F32);
            assertThat(scale.shape()).containsExactly(2, 3);
            Tensor weights = checkpoint.tensor("model.layers.0.mlp.down_proj.weight");
            for (long i = 0; i < weights.elementCount(); i++) {
                assertThat(Math.abs(FloatFormats.readFloat(weights, i))).as("E4M3 is finite and at most 448")
                        .isLessThanOrEqualTo(448f);
            }
        }
    }

    private static float[] floats(int n, IntFunction<Float> element) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = element.apply(i);
        }
        return out;
    }
}

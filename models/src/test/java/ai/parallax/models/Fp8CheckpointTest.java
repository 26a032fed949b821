package ai.parallax.models;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.tensors.safetensors.Checkpoint;
import ai.parallax.tensors.safetensors.SafetensorsWriter;
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
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Block-scaled FP8 checkpoints load with their scales attached, and every quantisation layout the engine cannot
 * read exactly fails at load time with a message naming it, never as silent garbage.
 */
class Fp8CheckpointTest {
    private static final String FP8 = "tiny-random-qwen3-fp8";
    private static Ops ops;

    @TempDir
    Path temp;

    @BeforeAll
    static void startBackend() {
        ops = new SimdOps(1);
    }

    @AfterAll
    static void stopBackend() {
        ops.close();
    }

    /** A copy of the FP8 model with its config edited and its weights linked. */
    private Path withConfig(Consumer<ObjectNode> edit) throws IOException {
        Path source = ReferenceCase.models().resolve(FP8);
        writeConfig(source, edit);
        Files.createSymbolicLink(temp.resolve("model.safetensors"), source.resolve("model.safetensors"));
        return temp;
    }

    /** A copy of the FP8 model keeping only the tensors {@code keep} accepts. */
    private Path withTensors(Predicate<String> keep) throws IOException {
        Path source = ReferenceCase.models().resolve(FP8);
        writeConfig(source, c -> { });
        try (Checkpoint checkpoint = Checkpoint.open(source)) {
            List<SafetensorsWriter.Entry> entries = checkpoint.tensorNames().stream().filter(keep)
                    .map(name -> SafetensorsWriter.Entry.of(checkpoint.tensor(name))).toList();
            SafetensorsWriter.write(temp.resolve("model.safetensors"), entries);
        }
        return temp;
    }

    private void writeConfig(Path source, Consumer<ObjectNode> edit) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("config.json").toFile());
        edit.accept(config);
        json.writeValue(temp.resolve("config.json").toFile(), config);
    }

    private static ObjectNode quantization(ObjectNode config) {
        return (ObjectNode) config.get("quantization_config");
    }

    @Test
    void fp8WeightsCarryTheirBlockScalesAndCountThemAsWeightMemory() {
        Path dir = ReferenceCase.models().resolve(FP8);
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 64);
             Checkpoint checkpoint = Checkpoint.open(dir)) {
            // Every tensor the model uses is in the file once; scales are weight memory too.
            long all = checkpoint.byteSize(checkpoint.tensorNames());
            assertThat(model.weightBytes()).isEqualTo(all);
        }
    }

    @Test
    void otherQuantisationMethodIsNamed() throws IOException {
        Path dir = withConfig(c -> quantization(c).put("quant_method", "compressed-tensors"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("quant_method \"compressed-tensors\" is not supported");
    }

    @Test
    void unknownFp8FormatIsNamed() throws IOException {
        Path dir = withConfig(c -> quantization(c).put("fmt", "e3m4"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("fmt \"e3m4\" is not supported");
    }

    @Test
    void staticActivationSchemeIsRefused() throws IOException {
        Path dir = withConfig(c -> quantization(c).put("activation_scheme", "static"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("activation_scheme \"static\" is not supported");
    }

    @Test
    void perTensorScalesAreRefused() throws IOException {
        Path dir = withConfig(c -> quantization(c).remove("weight_block_size"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("no weight_block_size");
    }

    @Test
    void formatThatDisagreesWithTheTensorsIsNamed() throws IOException {
        Path dir = withConfig(c -> quantization(c).put("fmt", "e5m2"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("'model.layers.0.self_attn.q_proj.weight' is F8_E4M3")
                .hasMessageContaining("fmt says F8_E5M2");
    }

    @Test
    void fp8TensorsWithoutQuantizationConfigAreRefused() throws IOException {
        Path dir = withConfig(c -> c.remove("quantization_config"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("no quantization_config");
    }

    @Test
    void scaleOfTheWrongShapeIsNamedWithBothShapes() throws IOException {
        // The file's scales are for 128x128 blocks; 64x128 blocks need twice as many rows of them.
        Path dir = withConfig(c -> quantization(c).putArray("weight_block_size").add(64).add(128));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("scale tensor 'model.layers.0.self_attn.q_proj.weight_scale_inv' has shape [2, 2]")
                .hasMessageContaining("needs [4, 2]");
    }

    @Test
    void missingScaleTensorIsNamed() throws IOException {
        String missing = "model.layers.1.mlp.down_proj.weight_scale_inv";
        Path dir = withTensors(name -> !name.equals(missing));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64)).isInstanceOf(ModelException.class)
                .hasMessageContaining("no scale tensor '" + missing + "'");
    }
}

package ai.parallax.models;

import ai.parallax.kernels.simd.SimdOps;
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
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A model directory the engine cannot run fails at load time, with a message naming the problem. */
class ModelErrorsTest {
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

    /** A copy of stories260K (weights linked, not copied) with its config.json edited. */
    private Path storiesWithConfig(Consumer<ObjectNode> edit) throws IOException {
        Path source = ReferenceCase.models().resolve("stories260K");
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("config.json").toFile());
        edit.accept(config);
        json.writeValue(temp.resolve("config.json").toFile(), config);
        Files.createSymbolicLink(temp.resolve("model.safetensors"), source.resolve("model.safetensors"));
        return temp;
    }

    @Test
    void unknownModelTypeListsTheSupportedOnes() throws IOException {
        Path dir = storiesWithConfig(c -> c.put("model_type", "mamba"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("model_type \"mamba\" is not supported")
                .hasMessageContaining("llama, qwen2, qwen3");
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = storiesWithConfig(c -> c.put("num_hidden_layers", 6));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("missing tensor 'model.layers.5.input_layernorm.weight'");
    }

    @Test
    void misshapedTensorIsNamedWithBothShapes() throws IOException {
        Path dir = storiesWithConfig(c -> c.put("intermediate_size", 160));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("tensor 'model.layers.0.mlp.gate_proj.weight' has shape [172, 64]")
                .hasMessageContaining("config implies [160, 64]");
    }

    @Test
    void missingDirectoryIsReported() {
        assertThatThrownBy(() -> ModelLoader.load(temp.resolve("nope"), ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("does not exist");
    }

    @Test
    void unsupportedRopeScalingIsNamed() throws IOException {
        Path dir = storiesWithConfig(c -> c.putObject("rope_scaling").put("rope_type", "longrope"));
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining("rope_scaling type \"longrope\" is not supported");
    }
}

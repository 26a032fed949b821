package ai.parallax.models.deepseek;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.ModelException;
import ai.parallax.models.ModelLoader;
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

/** A DeepSeek variant this engine does not implement is refused at load time, naming the field and its value. */
class DeepSeekConfigErrorsTest {
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

    /** A copy of the tiny DeepSeek-V3 (weights linked, not copied) with its config.json edited. */
    private Path withConfig(Consumer<ObjectNode> edit) throws IOException {
        Path source = Path.of(System.getProperty("parallax.models")).resolve("tiny-random-deepseek-v3");
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("config.json").toFile());
        edit.accept(config);
        json.writeValue(temp.resolve("config.json").toFile(), config);
        Files.createSymbolicLink(temp.resolve("model.safetensors"), source.resolve("model.safetensors"));
        return temp;
    }

    private void assertRefused(Consumer<ObjectNode> edit, String message) throws IOException {
        Path dir = withConfig(edit);
        assertThatThrownBy(() -> ModelLoader.load(dir, ops, 64))
                .isInstanceOf(ModelException.class)
                .hasMessageContaining(message);
    }

    @Test
    void softmaxScoringOfDeepSeekV2IsRefused() throws IOException {
        assertRefused(c -> c.put("scoring_func", "softmax"), "scoring_func \"softmax\" is not supported");
    }

    @Test
    void otherTopKMethodIsRefused() throws IOException {
        assertRefused(c -> c.put("topk_method", "group_limited_greedy"),
                "topk_method \"group_limited_greedy\" is not supported");
    }

    @Test
    void otherRopeScalingIsRefused() throws IOException {
        assertRefused(c -> ((ObjectNode) c.get("rope_scaling")).put("type", "linear"),
                "rope_scaling type \"linear\" is not supported for deepseek_v3");
    }

    @Test
    void expertsThatDoNotSplitIntoGroupsAreRefused() throws IOException {
        assertRefused(c -> c.put("n_group", 3), "n_routed_experts 16 is not divisible by n_group 3");
    }

    @Test
    void attentionBiasIsRefused() throws IOException {
        assertRefused(c -> c.put("attention_bias", true), "attention_bias true is not supported");
    }

    @Test
    void sparseLayerFrequencyIsRefused() throws IOException {
        assertRefused(c -> c.put("moe_layer_freq", 2), "moe_layer_freq 2 is not supported");
    }

    @Test
    void missingLatentRankIsNamed() throws IOException {
        assertRefused(c -> c.remove("kv_lora_rank"), "missing \"kv_lora_rank\"");
    }

    @Test
    void wrongQueryPathIsNamedByItsTensor() throws IOException {
        // q_lora_rank null means a single q_proj, which this checkpoint does not have.
        assertRefused(c -> c.putNull("q_lora_rank"), "missing tensor 'model.layers.0.self_attn.q_proj.weight'");
    }
}

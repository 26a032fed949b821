package ai.parallax.models.deepseek;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.ModelLoader;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Kimi-K2's config.json says {@code "model_type": "kimi_k2"} (so engines can tell it from DeepSeek-V3) while its
 * architecture is DeepseekV3ForCausalLM: the Kimi-K2-style tiny model, relabelled so, runs as DeepSeek and gives
 * its reference argmax at every position.
 */
class KimiK2ModelTypeTest {
    @TempDir
    Path temp;

    @Test
    void kimiK2ModelTypeRunsAsDeepSeek() throws IOException {
        Path source = Path.of(System.getProperty("parallax.models")).resolve("tiny-random-deepseek-v3-fp8");
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("config.json").toFile());
        config.put("model_type", "kimi_k2");
        json.writeValue(temp.resolve("config.json").toFile(), config);
        Files.createSymbolicLink(temp.resolve("model.safetensors"), source.resolve("model.safetensors"));
        JsonNode reference = json.readTree(source.resolve("expected.json").toFile()).get("cases").get(1);
        int[] ids = json.convertValue(reference.get("input_ids"), int[].class);
        int[] argmax = json.convertValue(reference.get("argmax_per_position"), int[].class);

        assertThat(ModelLoader.supportedModelTypes()).contains("deepseek_v3", "kimi_k2");
        try (Ops ops = new SimdOps(1);
             CausalLanguageModel model = ModelLoader.load(temp, ops, 64);
             KvCache cache = model.newKvCache(ids.length)) {
            assertThat(model).isInstanceOf(DeepSeekModel.class);
            int vocab = model.config().vocabSize();
            float[] logits = new float[ids.length * vocab];
            ops.copyToHost(model.forward(ids, ids.length, 0, cache, true), logits, 0);
            for (int p = 0; p < ids.length; p++) {
                int best = 0;
                for (int i = 1; i < vocab; i++) {
                    if (logits[p * vocab + i] > logits[p * vocab + best]) {
                        best = i;
                    }
                }
                assertThat(best).as("argmax at position %d", p).isEqualTo(argmax[p]);
            }
        }
    }
}

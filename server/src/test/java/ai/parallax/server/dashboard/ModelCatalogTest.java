package ai.parallax.server.dashboard;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCatalogTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));

    @Test
    void describesStories260KFromItsConfigAndHeaders() {
        ClusterModels.ModelInfo info = ModelCatalog.describe(MODELS.resolve("stories260K"));

        // Llama with hidden 64, intermediate 172, 8 heads of 8, 4 KV heads, 5 layers, vocabulary 512, tied lm_head:
        int hidden = 64;
        int kv = 4 * 8;
        long perLayer = 2L * hidden * hidden + 2L * hidden * kv + 3L * hidden * 172 + 2L * hidden;
        long expected = 512L * hidden + 5 * perLayer + hidden;
        assertThat(info.parameters()).isEqualTo(expected).isEqualTo(260_032);
        assertThat(info.architecture()).isEqualTo("LlamaForCausalLM");
        assertThat(info.dtype()).isEqualTo("F32");
        assertThat(info.numLayers()).isEqualTo(5);
        assertThat(info.contextLength()).isEqualTo(512);
        assertThat(info.problem()).isNull();
        // F32 weights plus one 512-position sequence: 32 blocks x (2 x 5 layers x 16 positions x 32 x 4 bytes).
        assertThat(info.estimatedMemoryBytes()).isEqualTo(expected * 4 + 32L * 2 * 5 * 16 * 32 * 4);
        assertThat(info.diskBytes()).isGreaterThan(expected * 4);
    }

    @Test
    void bf16CopyIsReportedAsBf16WithTheSameParameterCount() {
        ClusterModels.ModelInfo info = ModelCatalog.describe(MODELS.resolve("stories260K-bf16"));
        assertThat(info.dtype()).isEqualTo("BF16");
        assertThat(info.parameters()).isEqualTo(260_032);
    }

    @Test
    void scanListsModelFoldersByNameAndSkipsOtherFolders() {
        List<ClusterModels.ModelInfo> models = ModelCatalog.scan(MODELS);
        List<String> ids = models.stream().map(ClusterModels.ModelInfo::id).toList();
        assertThat(ids).contains("stories260K", "stories260K-bf16", "tiny-random-qwen3").isSorted();
        // Tokenizer-only folders have no config.json and are not models.
        assertThat(ids).doesNotContain("tokenizer-qwen3");
    }

    @Test
    void folderWithoutWeightsSaysSo(@TempDir Path dir) throws Exception {
        Path model = Files.createDirectory(dir.resolve("empty-model"));
        Files.copy(MODELS.resolve("stories260K/config.json"), model.resolve("config.json"));
        assertThat(ModelCatalog.describe(model).problem()).startsWith("no .safetensors file in");
    }

    @Test
    void missingModelsFolderIsNamed(@TempDir Path dir) {
        assertThatThrownBy(() -> ModelCatalog.scan(dir.resolve("nope")))
                .hasMessageContaining("nope").hasMessageContaining("does not exist");
    }
}

package ai.parallax.models.config;

import ai.parallax.models.ModelException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The stop tokens a model ends its turn with: the union of {@code eos_token_id} in {@code generation_config.json}
 * and in {@code config.json} (instruct models often list several, e.g. Qwen3's {@code <|im_end|>} and
 * {@code <|endoftext|>}), plus the model's suggested sampling defaults when it gives any.
 */
public record GenerationConfig(Set<Integer> eosTokenIds, Double temperature, Double topP, Integer topK) {

    public static GenerationConfig read(Path modelDir, ModelConfig config) {
        Set<Integer> eos = new LinkedHashSet<>(config.eosTokenIds());
        Double temperature = null;
        Double topP = null;
        Integer topK = null;
        Path file = modelDir.resolve("generation_config.json");
        if (Files.isRegularFile(file)) {
            try {
                JsonNode json = new ObjectMapper().readTree(file.toFile());
                List<Integer> ids = ModelConfig.tokenIds(json.path("eos_token_id"));
                eos.addAll(ids);
                if (json.hasNonNull("temperature")) {
                    temperature = json.get("temperature").asDouble();
                }
                if (json.hasNonNull("top_p")) {
                    topP = json.get("top_p").asDouble();
                }
                if (json.hasNonNull("top_k")) {
                    topK = json.get("top_k").asInt();
                }
            } catch (IOException e) {
                throw new ModelException(file + ": not valid JSON: " + e.getMessage(), e);
            }
        }
        return new GenerationConfig(Set.copyOf(eos), temperature, topP, topK);
    }
}

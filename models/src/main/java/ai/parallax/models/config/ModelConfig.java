package ai.parallax.models.config;

import ai.parallax.models.ModelException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The fields of a Hugging Face {@code config.json} that the forward pass needs, checked and defaulted the way
 * transformers defaults them. The parsed JSON stays available through {@link #json()} for architecture-specific
 * fields.
 */
public record ModelConfig(
        String modelType,
        List<String> architectures,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKeyValueHeads,
        int headDim,
        int vocabSize,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        String hiddenAct,
        List<Integer> eosTokenIds,
        Integer bosTokenId,
        String torchDtype,
        JsonNode json) {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ROPE_TYPES = Set.of("default", "linear", "llama3", "yarn");

    /** Reads {@code config.json} from a model directory. */
    public static ModelConfig read(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new ModelException("no config.json in " + modelDir);
        }
        try {
            return parse(JSON.readTree(file.toFile()), file.toString());
        } catch (IOException e) {
            throw new ModelException(file + ": not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Parses a config.json tree; {@code source} names it in error messages. */
    public static ModelConfig parse(JsonNode json, String source) {
        if (json == null || !json.isObject()) {
            throw new ModelException(source + ": expected a JSON object");
        }
        Fields f = new Fields(json, source);
        String modelType = f.string("model_type", null);
        if (modelType == null) {
            throw new ModelException(source + ": missing \"model_type\"");
        }
        List<String> architectures = new ArrayList<>();
        json.path("architectures").forEach(a -> architectures.add(a.asText()));
        int hidden = f.positiveInt("hidden_size");
        int heads = f.positiveInt("num_attention_heads");
        int kvHeads = json.hasNonNull("num_key_value_heads") ? f.positiveInt("num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw new ModelException(source + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = json.hasNonNull("head_dim") ? f.positiveInt("head_dim") : hidden / heads;
        if (!json.hasNonNull("head_dim") && hidden % heads != 0) {
            throw new ModelException(source + ": hidden_size " + hidden + " is not divisible by num_attention_heads "
                    + heads + " and no head_dim is given");
        }
        return new ModelConfig(
                modelType,
                List.copyOf(architectures),
                hidden,
                f.positiveInt("intermediate_size"),
                f.positiveInt("num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                f.positiveInt("vocab_size"),
                f.number("rms_norm_eps", 1e-6),
                f.number("rope_theta", 10000.0),
                ropeScaling(json.path("rope_scaling"), source),
                json.hasNonNull("max_position_embeddings") ? f.positiveInt("max_position_embeddings") : 2048,
                f.bool("tie_word_embeddings", false),
                f.bool("attention_bias", false),
                f.string("hidden_act", "silu"),
                tokenIds(json.path("eos_token_id")),
                json.hasNonNull("bos_token_id") ? json.get("bos_token_id").asInt() : null,
                f.string("torch_dtype", f.string("dtype", null)),
                json);
    }

    static List<Integer> tokenIds(JsonNode node) {
        List<Integer> ids = new ArrayList<>();
        if (node.isInt()) {
            ids.add(node.asInt());
        } else if (node.isArray()) {
            node.forEach(n -> ids.add(n.asInt()));
        }
        return List.copyOf(ids);
    }

    private static RopeScaling ropeScaling(JsonNode node, String source) {
        if (node.isMissingNode() || node.isNull()) {
            return RopeScaling.NONE;
        }
        // transformers accepts both "rope_type" and the older "type".
        String type = node.hasNonNull("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("default");
        if (!ROPE_TYPES.contains(type)) {
            throw new ModelException(source + ": rope_scaling type \"" + type + "\" is not supported (supported: "
                    + String.join(", ", ROPE_TYPES.stream().sorted().toList()) + ")");
        }
        return new RopeScaling(type,
                node.path("factor").asDouble(1.0),
                node.path("low_freq_factor").asDouble(1.0),
                node.path("high_freq_factor").asDouble(4.0),
                node.path("original_max_position_embeddings").asInt(8192));
    }

    /** Rows of q per token: heads × head_dim. */
    public int queryWidth() {
        return numHeads * headDim;
    }

    /** Rows of k (and of v) per token: kv heads × head_dim. */
    public int keyValueWidth() {
        return numKeyValueHeads * headDim;
    }

    /** Typed access to config fields with errors that name the file and the field. */
    private record Fields(JsonNode json, String source) {
        int positiveInt(String name) {
            JsonNode n = json.get(name);
            if (n == null || n.isNull()) {
                throw new ModelException(source + ": missing \"" + name + "\"");
            }
            if (!n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() <= 0) {
                throw new ModelException(source + ": \"" + name + "\" must be a positive integer, got " + n);
            }
            return n.asInt();
        }

        double number(String name, double fallback) {
            JsonNode n = json.get(name);
            if (n == null || n.isNull()) {
                return fallback;
            }
            if (!n.isNumber()) {
                throw new ModelException(source + ": \"" + name + "\" must be a number, got " + n);
            }
            return n.asDouble();
        }

        boolean bool(String name, boolean fallback) {
            JsonNode n = json.get(name);
            return n == null || n.isNull() ? fallback : n.asBoolean();
        }

        String string(String name, String fallback) {
            JsonNode n = json.get(name);
            return n == null || n.isNull() ? fallback : n.asText();
        }
    }
}

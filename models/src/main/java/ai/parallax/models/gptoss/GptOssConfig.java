package ai.parallax.models.gptoss;

import ai.parallax.models.ModelException;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Mxfp4;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;

/**
 * The gpt-oss fields of a {@code config.json} (transformers' {@code GptOssConfig}), checked: anything this engine
 * does not implement is refused by name rather than run wrongly.
 *
 * @param slidingLayers     per layer, whether it is a {@code sliding_attention} layer (else {@code full_attention})
 * @param slidingWindow     {@code sliding_window}: keys a sliding layer's query sees, itself included
 * @param experts           {@code num_local_experts}
 * @param expertsPerToken   {@code num_experts_per_tok} (or {@code experts_per_token})
 * @param swigluLimit       {@code swiglu_limit}: the clamp of the experts' gate and up projections
 * @param yarn              the YaRN rotary schedule ({@code rope_scaling}), or null for plain rotary
 */
public record GptOssConfig(boolean[] slidingLayers, int slidingWindow, int experts, int expertsPerToken,
                           float swigluLimit, YarnRope yarn) {
    public GptOssConfig {
        slidingLayers = slidingLayers.clone();
    }

    /** The sigmoid slope of gpt-oss's SwiGLU (a constant of the architecture, not a config field). */
    public static final float SWIGLU_ALPHA = 1.702f;

    /** Reads and checks the gpt-oss fields of {@code config}; {@code source} names the file in errors. */
    public static GptOssConfig parse(ModelConfig config, String source) {
        JsonNode json = config.json();
        int layers = config.numLayers();
        boolean[] sliding = new boolean[layers];
        JsonNode types = json.get("layer_types");
        if (types == null || types.isNull()) {
            // transformers' default: even layers slide, odd layers attend to everything.
            for (int i = 0; i < layers; i++) {
                sliding[i] = (i + 1) % 2 == 1;
            }
        } else {
            if (!types.isArray() || types.size() != layers) {
                throw new ModelException(source + ": layer_types must list one type for each of the " + layers
                        + " layers, got " + types);
            }
            for (int i = 0; i < layers; i++) {
                String type = types.get(i).asText();
                sliding[i] = switch (type) {
                    case "sliding_attention" -> true;
                    case "full_attention" -> false;
                    default -> throw new ModelException(source + ": layer_types[" + i + "] \"" + type
                            + "\" is not supported (supported: sliding_attention, full_attention)");
                };
            }
        }
        int window = positive(json, "sliding_window", source);
        int experts = positive(json, "num_local_experts", source);
        String perTokenField = json.hasNonNull("num_experts_per_tok") ? "num_experts_per_tok" : "experts_per_token";
        int perToken = positive(json, perTokenField, source);
        if (perToken > experts) {
            throw new ModelException(source + ": " + perTokenField + " " + perToken + " exceeds num_local_experts "
                    + experts);
        }
        double limit = json.path("swiglu_limit").asDouble(7.0);
        if (!(limit > 0)) {
            throw new ModelException(source + ": swiglu_limit " + json.get("swiglu_limit") + " must be positive");
        }
        requireMxfp4(json, source);
        for (String dim : List.of("hidden_size", "intermediate_size")) {
            if (json.get(dim).asInt() % Mxfp4.BLOCK != 0) {
                throw new ModelException(source + ": " + dim + " " + json.get(dim).asInt()
                        + " is not a multiple of the MXFP4 block of " + Mxfp4.BLOCK);
            }
        }
        if (config.headDim() % 2 != 0) {
            throw new ModelException(source + ": head_dim " + config.headDim() + " must be even for rotary");
        }
        YarnRope yarn = "yarn".equals(config.ropeScaling().type())
                ? YarnRope.parse(json.get("rope_scaling"), config, source) : null;
        if (yarn == null && !"default".equals(config.ropeScaling().type())) {
            throw new ModelException(source + ": rope_scaling type \"" + config.ropeScaling().type()
                    + "\" is not supported for gpt_oss (supported: yarn, or none)");
        }
        return new GptOssConfig(sliding, window, experts, perToken, (float) limit, yarn);
    }

    /** The experts must be MXFP4 as the official checkpoints ship them; a dequantised (BF16) export is refused. */
    private static void requireMxfp4(JsonNode json, String source) {
        JsonNode q = json.get("quantization_config");
        String method = q == null || q.isNull() ? null : q.path("quant_method").asText(null);
        if (!"mxfp4".equals(method)) {
            throw new ModelException(source + ": quantization_config.quant_method " + (method == null ? "(missing)"
                    : "\"" + method + "\"") + " is not supported for gpt_oss (supported: mxfp4, the experts stored"
                    + " as *_blocks and *_scales)");
        }
    }

    @Override
    public boolean[] slidingLayers() {
        return slidingLayers.clone();
    }

    public boolean isSliding(int layer) {
        return slidingLayers[layer];
    }

    private static int positive(JsonNode json, String name, String source) {
        JsonNode n = json.get(name);
        if (n == null || !n.isIntegralNumber() || n.asInt() <= 0) {
            throw new ModelException(source + ": \"" + name + "\" must be a positive integer, got " + n);
        }
        return n.asInt();
    }
}

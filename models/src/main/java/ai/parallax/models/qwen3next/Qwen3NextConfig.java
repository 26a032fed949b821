package ai.parallax.models.qwen3next;

import ai.parallax.models.ModelException;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.moe.MoeConfig;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * The Qwen3-Next fields of {@code config.json}, checked and defaulted as transformers' {@code Qwen3NextConfig} does.
 *
 * @param linearLayers     for each layer, whether it is {@code linear_attention} (else {@code full_attention}), from
 *                         {@code layer_types} or else {@code full_attention_interval}
 * @param linearKeyHeads   {@code linear_num_key_heads}
 * @param linearKeyDim     {@code linear_key_head_dim}
 * @param linearValueHeads {@code linear_num_value_heads}, a multiple of the key heads
 * @param linearValueDim   {@code linear_value_head_dim}
 * @param convKernel       {@code linear_conv_kernel_dim}
 * @param rotaryDim        the rotated part of each full-attention head: {@code head_dim · partial_rotary_factor}
 * @param moe              the mixture-of-experts fields (shared expert, {@code mlp_only_layers})
 */
public record Qwen3NextConfig(boolean[] linearLayers, int linearKeyHeads, int linearKeyDim, int linearValueHeads,
                              int linearValueDim, int convKernel, int rotaryDim, MoeConfig moe) {

    static final String LINEAR = "linear_attention";
    static final String FULL = "full_attention";

    public static Qwen3NextConfig parse(ModelConfig config, String source) {
        JsonNode json = config.json();
        if (!"silu".equals(config.hiddenAct())) {
            throw new ModelException(source + ": hidden_act \"" + config.hiddenAct()
                    + "\" is not supported for qwen3_next (supported: silu)");
        }
        if (config.attentionBias()) {
            throw new ModelException(source + ": attention_bias true is not supported for qwen3_next");
        }
        if (config.tieWordEmbeddings()) {
            throw new ModelException(source + ": tie_word_embeddings true is not supported for qwen3_next");
        }
        int layers = config.numLayers();
        boolean[] linear = new boolean[layers];
        JsonNode types = json.get("layer_types");
        if (types != null && !types.isNull()) {
            if (!types.isArray() || types.size() != layers) {
                throw new ModelException(source + ": layer_types must list " + layers + " layer types, got " + types);
            }
            for (int i = 0; i < layers; i++) {
                String type = types.get(i).asText();
                if (!LINEAR.equals(type) && !FULL.equals(type)) {
                    throw new ModelException(source + ": layer_types[" + i + "] \"" + type
                            + "\" is not supported (supported: " + LINEAR + ", " + FULL + ")");
                }
                linear[i] = LINEAR.equals(type);
            }
        } else {
            int interval = positive(json, "full_attention_interval", 4, source);
            for (int i = 0; i < layers; i++) {
                linear[i] = (i + 1) % interval != 0;
            }
        }
        int keyHeads = positive(json, "linear_num_key_heads", 16, source);
        int keyDim = positive(json, "linear_key_head_dim", 128, source);
        int valueHeads = positive(json, "linear_num_value_heads", 32, source);
        int valueDim = positive(json, "linear_value_head_dim", 128, source);
        if (valueHeads % keyHeads != 0) {
            throw new ModelException(source + ": linear_num_value_heads " + valueHeads
                    + " is not a multiple of linear_num_key_heads " + keyHeads);
        }
        int kernel = positive(json, "linear_conv_kernel_dim", 4, source);
        double factor = json.path("partial_rotary_factor").asDouble(0.25);
        int rotaryDim = (int) (config.headDim() * factor);
        if (!(factor > 0 && factor <= 1) || rotaryDim % 2 != 0 || rotaryDim == 0) {
            throw new ModelException(source + ": partial_rotary_factor " + factor + " of head_dim "
                    + config.headDim() + " does not give an even, positive rotary dimension");
        }
        if (json.path("use_sliding_window").asBoolean(false)) {
            throw new ModelException(source + ": use_sliding_window true is not supported for qwen3_next");
        }
        MoeConfig moe = MoeConfig.parse(config, source);
        return new Qwen3NextConfig(linear, keyHeads, keyDim, valueHeads, valueDim, kernel, rotaryDim, moe);
    }

    /** A copy: the record must not hand out its array. */
    @Override
    public boolean[] linearLayers() {
        return linearLayers.clone();
    }

    public boolean isLinear(int layer) {
        return linearLayers[layer];
    }

    /** Channels of the short convolution: q and k of every key head, v of every value head. */
    public int convDim() {
        return 2 * linearKeyHeads * linearKeyDim + linearValueHeads * linearValueDim;
    }

    /** Floats of one sequence's convolution window in one linear layer: the last K−1 inputs. */
    public int convStateWidth() {
        return (convKernel - 1) * convDim();
    }

    /** Floats of one sequence's delta-rule state in one linear layer: a key×value matrix per value head. */
    public int deltaStateWidth() {
        return linearValueHeads * linearKeyDim * linearValueDim;
    }

    /**
     * Cache memory layer {@code layer} needs for one sequence of {@code positions} tokens: keys and values of every
     * position for full attention; for linear attention the fixed convolution window and delta-rule state, however
     * long the sequence. What placing a layer range must budget for besides the weights.
     */
    public long cacheBytesPerSequence(ModelConfig config, int layer, long positions) {
        if (isLinear(layer)) {
            return ((long) convStateWidth() + deltaStateWidth()) * Float.BYTES;
        }
        return 2L * positions * config.keyValueWidth() * Float.BYTES;
    }

    private static int positive(JsonNode json, String name, int fallback, String source) {
        JsonNode n = json.get(name);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isIntegralNumber() || n.asInt() <= 0) {
            throw new ModelException(source + ": \"" + name + "\" must be a positive integer, got " + n);
        }
        return n.asInt();
    }
}

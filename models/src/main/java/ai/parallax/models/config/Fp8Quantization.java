package ai.parallax.models.config;

import ai.parallax.models.ModelException;
import ai.parallax.tensors.DType;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * The {@code quantization_config} of a block-scaled FP8 checkpoint (Qwen3-*-FP8, DeepSeek-V3, Kimi-K2):
 * {@code {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}}.
 * Each FP8 weight {@code W} then has a sibling {@code W_scale_inv} of one scale per block, and the value of an
 * element is its FP8 value times its block's scale. Activations stay in float here, which is what "dynamic"
 * activation quantisation computes up to its own rounding.
 *
 * <p>Anything else (another method, a static activation scheme, per-tensor scales) is refused by name, because
 * reading such weights as if they were this layout would give plausible-looking garbage.
 *
 * @param weightDtype the dtype the FP8 weights must have ({@code fmt})
 */
public record Fp8Quantization(DType weightDtype, int blockRows, int blockCols) {

    /** Suffix of the scale tensor of a weight: {@code x.weight} → {@code x.weight_scale_inv}. */
    public static final String SCALE_SUFFIX = "_scale_inv";

    /**
     * Reads a config's {@code quantization_config}; null when there is none (an unquantised checkpoint).
     *
     * @throws ModelException naming the field and value for any method or layout other than block-scaled FP8
     */
    public static Fp8Quantization parse(ModelConfig config, String source) {
        JsonNode q = config.json().get("quantization_config");
        if (q == null || q.isNull()) {
            return null;
        }
        String method = q.path("quant_method").asText("(missing)");
        if (!"fp8".equals(method)) {
            throw new ModelException(source + ": quantization_config.quant_method \"" + method
                    + "\" is not supported (supported: fp8 with block scales)");
        }
        String fmt = q.path("fmt").asText("e4m3");
        DType dtype = switch (fmt) {
            case "e4m3" -> DType.F8_E4M3;
            case "e5m2" -> DType.F8_E5M2;
            default -> throw new ModelException(source + ": quantization_config.fmt \"" + fmt
                    + "\" is not supported (supported: e4m3, e5m2)");
        };
        String activations = q.path("activation_scheme").asText("dynamic");
        if (!"dynamic".equals(activations)) {
            throw new ModelException(source + ": quantization_config.activation_scheme \"" + activations
                    + "\" is not supported (supported: dynamic)");
        }
        JsonNode block = q.get("weight_block_size");
        if (block == null || block.isNull()) {
            throw new ModelException(source + ": quantization_config has no weight_block_size; per-tensor FP8 "
                    + "scales are not supported (supported: block scales such as [128, 128])");
        }
        if (!block.isArray() || block.size() != 2 || !block.get(0).canConvertToInt() || !block.get(1).canConvertToInt()
                || !block.get(0).isIntegralNumber() || !block.get(1).isIntegralNumber()
                || block.get(0).asInt() <= 0 || block.get(1).asInt() <= 0) {
            throw new ModelException(source + ": quantization_config.weight_block_size must be two positive "
                    + "integers [rows, cols], got " + block);
        }
        return new Fp8Quantization(dtype, block.get(0).asInt(), block.get(1).asInt());
    }
}

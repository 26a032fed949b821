package ai.parallax.models.config;

/**
 * The {@code rope_scaling} block of a config.json. Only the variants this engine implements can be built; the
 * rest are refused by {@link ModelConfig#parse} with the variant's name.
 *
 * @param type                          "default", "linear" or "llama3"
 * @param factor                        context extension factor
 * @param lowFreqFactor                 llama3: wavelengths above original/lowFreqFactor are divided by factor
 * @param highFreqFactor                llama3: wavelengths below original/highFreqFactor are kept
 * @param originalMaxPositionEmbeddings llama3: the pre-training context length
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositionEmbeddings) {
    public static final RopeScaling NONE = new RopeScaling("default", 1, 0, 0, 0);
}

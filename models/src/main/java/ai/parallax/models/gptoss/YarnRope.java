package ai.parallax.models.gptoss;

import ai.parallax.models.ModelException;
import ai.parallax.models.config.ModelConfig;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * YaRN rotary scaling (Peng et al., "YaRN: Efficient Context Window Extension of Large Language Models",
 * arXiv:2309.00071, section 3), as transformers' {@code _compute_yarn_parameters} computes it: frequencies whose
 * wavelength is long compared with the original context are interpolated (divided by the factor), short ones are
 * kept, and a linear ramp between the correction dimensions {@code low} and {@code high} blends the two. The
 * attention factor multiplies cos and sin, which scales every attention logit by its square.
 *
 * @param factor        context extension factor
 * @param originalContext {@code original_max_position_embeddings}
 * @param betaFast      rotations at which the ramp starts (high frequencies kept)
 * @param betaSlow      rotations at which the ramp ends (low frequencies interpolated)
 * @param truncate      floor/ceil the correction range to whole dimensions ({@code truncate}, default true;
 *                      gpt-oss sets false)
 * @param attentionFactor the cos/sin multiplier: {@code attention_factor}, or from {@code mscale}/{@code
 *                      mscale_all_dim}, or {@code 0.1·ln(factor) + 1}
 */
public record YarnRope(double factor, int originalContext, double betaFast, double betaSlow, boolean truncate,
                       double attentionFactor) {

    static YarnRope parse(JsonNode node, ModelConfig config, String source) {
        double factor = node.path("factor").asDouble(1.0);
        if (!(factor >= 1)) {
            throw new ModelException(source + ": rope_scaling.factor " + node.get("factor")
                    + " must be at least 1 for yarn");
        }
        int original = node.hasNonNull("original_max_position_embeddings")
                ? node.get("original_max_position_embeddings").asInt() : config.maxPositionEmbeddings();
        double betaFast = node.hasNonNull("beta_fast") ? node.get("beta_fast").asDouble() : 32;
        double betaSlow = node.hasNonNull("beta_slow") ? node.get("beta_slow").asDouble() : 1;
        boolean truncate = node.path("truncate").asBoolean(true);
        double attention;
        if (node.hasNonNull("attention_factor")) {
            attention = node.get("attention_factor").asDouble();
        } else if (node.hasNonNull("mscale") && node.hasNonNull("mscale_all_dim")
                && node.get("mscale").asDouble() != 0 && node.get("mscale_all_dim").asDouble() != 0) {
            attention = mscale(factor, node.get("mscale").asDouble())
                    / mscale(factor, node.get("mscale_all_dim").asDouble());
        } else {
            attention = mscale(factor, 1);
        }
        return new YarnRope(factor, original, betaFast, betaSlow, truncate, attention);
    }

    private static double mscale(double scale, double mscale) {
        return scale <= 1 ? 1.0 : 0.1 * mscale * Math.log(scale) + 1.0;
    }

    /** The rotary inverse frequencies of a head of {@code dim} rotating dimensions with base {@code theta}. */
    public double[] inverseFrequencies(int dim, double theta) {
        double low = correctionDim(betaFast, dim, theta);
        double high = correctionDim(betaSlow, dim, theta);
        if (truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        low = Math.max(low, 0);
        high = Math.min(high, dim - 1);
        if (low == high) {
            high += 0.001;   // a zero-width ramp would divide by zero
        }
        int half = dim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            double extrapolated = 1.0 / Math.pow(theta, 2.0 * i / dim);
            double interpolated = extrapolated / factor;
            double ramp = Math.clamp((i - low) / (high - low), 0, 1);
            double keep = 1 - ramp;   // share of the original (extrapolated) frequency
            inv[i] = interpolated * (1 - keep) + extrapolated * keep;
        }
        return inv;
    }

    /** The dimension whose wavelength fits {@code rotations} times into the original context. */
    private double correctionDim(double rotations, int dim, double theta) {
        return dim * Math.log(originalContext / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
    }
}

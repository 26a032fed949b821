package ai.parallax.models.deepseek;

import ai.parallax.models.ModelException;
import ai.parallax.models.RotaryTables;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * YaRN rotary scaling (Peng et al., arXiv:2309.00071) as transformers' {@code _compute_yarn_parameters} computes
 * it: each frequency is blended between its extrapolated (unscaled) and interpolated ({@code / factor}) value by a
 * linear ramp over the correction range that {@code beta_fast} and {@code beta_slow} rotations span in the original
 * context; cos and sin are then multiplied by the attention factor.
 *
 * @param factor                 context extension factor
 * @param originalMaxPositions   {@code original_max_position_embeddings}: the pre-training context
 * @param betaFast               rotations at which a frequency is kept as it was (default 32)
 * @param betaSlow               rotations below which a frequency is fully interpolated (default 1)
 * @param mscale                 {@code mscale}, 0 when absent
 * @param mscaleAllDim           {@code mscale_all_dim}, 0 when absent
 * @param explicitAttentionFactor {@code attention_factor}, NaN when absent (then derived from the mscales)
 * @param truncate               {@code truncate} (default true): round the correction range outwards to integers
 */
public record YarnScaling(double factor, int originalMaxPositions, double betaFast, double betaSlow, double mscale,
                          double mscaleAllDim, double explicitAttentionFactor, boolean truncate) {

    /** The {@code rope_scaling} block, or null when there is none (plain rotary). */
    static YarnScaling parse(JsonNode node, String source) {
        if (node.isMissingNode() || node.isNull()) {
            return null;
        }
        String type = node.hasNonNull("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("default");
        if ("default".equals(type)) {
            return null;
        }
        if (!"yarn".equals(type)) {
            throw new ModelException(source + ": rope_scaling type \"" + type + "\" is not supported for deepseek_v3 "
                    + "(supported: yarn, or none)");
        }
        double factor = node.path("factor").asDouble(1.0);
        if (!(factor >= 1.0)) {
            throw new ModelException(source + ": rope_scaling.factor must be at least 1, got " + node.get("factor"));
        }
        if (!node.hasNonNull("original_max_position_embeddings")) {
            throw new ModelException(source + ": rope_scaling of type yarn needs original_max_position_embeddings");
        }
        // transformers reads beta_fast/beta_slow with "or", so 0 means the default too.
        double betaFast = node.path("beta_fast").asDouble(0);
        double betaSlow = node.path("beta_slow").asDouble(0);
        return new YarnScaling(factor, node.get("original_max_position_embeddings").asInt(),
                betaFast == 0 ? 32 : betaFast, betaSlow == 0 ? 1 : betaSlow,
                node.path("mscale").asDouble(0), node.path("mscale_all_dim").asDouble(0),
                node.hasNonNull("attention_factor") ? node.get("attention_factor").asDouble() : Double.NaN,
                node.path("truncate").asBoolean(true));
    }

    /** YaRN's magnitude correction {@code 0.1 · m · ln(s) + 1}, or 1 when nothing is extended. */
    public static double mscale(double scale, double m) {
        return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
    }

    /** The factor cos and sin are multiplied by. */
    public double attentionFactor() {
        if (!Double.isNaN(explicitAttentionFactor)) {
            return explicitAttentionFactor;
        }
        if (mscale != 0 && mscaleAllDim != 0) {
            return mscale(factor, mscale) / mscale(factor, mscaleAllDim);
        }
        return mscale(factor, 1.0);
    }

    /** The blended inverse frequencies of a rotary part of {@code dim} dimensions, in double. */
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
            high += 0.001; // as transformers does, to keep the ramp finite
        }
        int half = dim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            double extrapolated = 1.0 / Math.pow(theta, (2.0 * i) / dim);
            double interpolated = extrapolated / factor;
            double ramp = Math.clamp((i - low) / (high - low), 0.0, 1.0);
            double keep = 1 - ramp; // weight of the unscaled frequency
            inv[i] = interpolated * (1 - keep) + extrapolated * keep;
        }
        return inv;
    }

    /** The dimension whose wavelength makes {@code rotations} turns over the original context. */
    private double correctionDim(double rotations, int dim, double theta) {
        return dim * Math.log(originalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
    }

    /**
     * Cos/sin tables for a rotary part of {@code dim} dimensions: plain rotary when {@code yarn} is null, else YaRN's
     * frequencies with its attention factor folded into both tables.
     */
    public static RotaryTables tables(Ops ops, YarnScaling yarn, int dim, double theta, int maxPositions) {
        double[] inv;
        double magnitude = 1.0;
        if (yarn == null) {
            inv = new double[dim / 2];
            for (int i = 0; i < inv.length; i++) {
                inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / dim);
            }
        } else {
            inv = yarn.inverseFrequencies(dim, theta);
            magnitude = yarn.attentionFactor();
        }
        int half = dim / 2;
        float[] cos = new float[maxPositions * half];
        float[] sin = new float[maxPositions * half];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * inv[i];
                cos[p * half + i] = (float) (Math.cos(angle) * magnitude);
                sin[p * half + i] = (float) (Math.sin(angle) * magnitude);
            }
        }
        Tensor cosTable = ops.allocate("rope.cos", maxPositions, half);
        Tensor sinTable = ops.allocate("rope.sin", maxPositions, half);
        ops.copyFromHost(cos, 0, cosTable);
        ops.copyFromHost(sin, 0, sinTable);
        return new RotaryTables(cosTable, sinTable, maxPositions);
    }
}

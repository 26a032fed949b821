package ai.parallax.models;

import ai.parallax.models.config.RopeScaling;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

/**
 * The cos/sin tables of rotary position embedding (RoFormer, arXiv:2104.09864) for positions [0, maxPositions),
 * as the {@link Ops#rope} kernel reads them: {@code [maxPositions, rotaryDim/2]}.
 *
 * <p>Angles are computed in double precision and rounded once, so long contexts keep their accuracy. The frequency
 * schedule follows transformers' {@code ROPE_INIT_FUNCTIONS}: default, linear, and llama3 (Llama 3.1's smooth
 * interpolation between scaled low frequencies and unscaled high frequencies).
 */
public record RotaryTables(Tensor cos, Tensor sin, int maxPositions) {

    public static RotaryTables build(Ops ops, int rotaryDim, double theta, RopeScaling scaling, int maxPositions) {
        return build(ops, inverseFrequencies(rotaryDim, theta, scaling), 1.0, maxPositions);
    }

    /**
     * Tables for a frequency schedule computed elsewhere (YaRN: {@code models.gptoss.YarnRope}), with cos and sin
     * multiplied by {@code attentionFactor}, as transformers' rotary embeddings apply {@code attention_scaling}.
     */
    public static RotaryTables build(Ops ops, double[] inverseFrequencies, double attentionFactor, int maxPositions) {
        int half = inverseFrequencies.length;
        float[] cos = new float[maxPositions * half];
        float[] sin = new float[maxPositions * half];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * inverseFrequencies[i];
                cos[p * half + i] = (float) (Math.cos(angle) * attentionFactor);
                sin[p * half + i] = (float) (Math.sin(angle) * attentionFactor);
            }
        }
        Tensor cosTable = ops.allocate("rope.cos", maxPositions, half);
        Tensor sinTable = ops.allocate("rope.sin", maxPositions, half);
        ops.copyFromHost(cos, 0, cosTable);
        ops.copyFromHost(sin, 0, sinTable);
        return new RotaryTables(cosTable, sinTable, maxPositions);
    }

    static double[] inverseFrequencies(int rotaryDim, double theta, RopeScaling scaling) {
        int half = rotaryDim / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / rotaryDim);
        }
        switch (scaling.type()) {
            case "default" -> { }
            case "linear" -> {
                for (int i = 0; i < half; i++) {
                    inv[i] /= scaling.factor();
                }
            }
            case "llama3" -> {
                double original = scaling.originalMaxPositionEmbeddings();
                double lowFreqWavelen = original / scaling.lowFreqFactor();
                double highFreqWavelen = original / scaling.highFreqFactor();
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    if (wavelen > lowFreqWavelen) {
                        inv[i] = inv[i] / scaling.factor();
                    } else if (wavelen >= highFreqWavelen) {
                        double smooth = (original / wavelen - scaling.lowFreqFactor())
                                / (scaling.highFreqFactor() - scaling.lowFreqFactor());
                        inv[i] = (1 - smooth) * inv[i] / scaling.factor() + smooth * inv[i];
                    }
                }
            }
            default -> throw new ModelException("rope_scaling type \"" + scaling.type() + "\" is not supported");
        }
        return inv;
    }
}

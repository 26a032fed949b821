package ai.parallax.models;

import java.util.Locale;

/** How weights are held in memory after loading. */
public enum WeightQuantization {
    /** As stored in the checkpoint (F32, BF16, F16, or FP8 with block scales). */
    NONE,
    /**
     * Linear-layer matrices converted to {@link ai.parallax.tensors.quant.Q8Weights Q8} (int8 in blocks of 32 with a
     * scale each) at load time, or mapped from a Q8 copy saved beside the model by an earlier load.
     */
    Q8;

    /** Parses {@code none} or {@code q8}, as the {@code --quantize} option takes them. */
    public static WeightQuantization parse(String text) {
        for (WeightQuantization q : values()) {
            if (q.name().equalsIgnoreCase(text)) {
                return q;
            }
        }
        throw new ModelException("unknown quantization \"" + text + "\" (known: none, q8)");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}

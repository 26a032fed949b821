package ai.parallax.runtime.sampling;

/**
 * How one request picks its next token. Temperature 0 means greedy (argmax). Disabled filters take their neutral
 * values: topK 0, topP 1, minP 0, penalties 1 (repetition) and 0 (presence, frequency).
 *
 * @param repetitionPenalty as in transformers/CTRL: logits of tokens already in the prompt or the output are
 *                          divided by it when positive and multiplied when negative
 * @param presencePenalty   as in OpenAI's API: subtracted once from tokens that appear in the output
 * @param frequencyPenalty  as in OpenAI's API: subtracted per occurrence in the output
 * @param seed              seeds the random generator; null draws a fresh seed
 */
public record SamplingParams(double temperature, int topK, double topP, double minP, double repetitionPenalty,
                             double presencePenalty, double frequencyPenalty, Long seed) {

    public static final SamplingParams GREEDY = new SamplingParams(0, 0, 1, 0, 1, 0, 0, null);

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 disables it), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("min_p must be in [0, 1], got " + minP);
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition_penalty must be > 0, got " + repetitionPenalty);
        }
        if (!Double.isFinite(presencePenalty) || !Double.isFinite(frequencyPenalty)) {
            throw new IllegalArgumentException("presence and frequency penalties must be finite");
        }
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    public SamplingParams withSeed(long newSeed) {
        return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty,
                frequencyPenalty, newSeed);
    }
}

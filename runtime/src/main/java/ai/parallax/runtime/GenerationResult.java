package ai.parallax.runtime;

import ai.parallax.runtime.sampling.TokenLogprob;

import java.util.List;

/**
 * The outcome of a generation. {@code generatedIds} holds the tokens produced, without the end-of-sequence token
 * that ended it; {@code text} is their decoding with any stop string cut off.
 */
public record GenerationResult(int[] promptIds, int[] generatedIds, String text, FinishReason finishReason,
                               List<TokenLogprob> logprobs, Timings timings) {

    /** Why generation ended, in OpenAI's words. */
    public enum FinishReason {
        /** An end-of-sequence token, a stop token or a stop string. */
        STOP,
        /** The token limit or the context length. */
        LENGTH,
        /** The client cancelled or went away. */
        CANCELLED;

        public String openAiName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Wall-clock time of the prefill (prompt) and decode (generation) phases. */
    public record Timings(int promptTokens, long prefillNanos, int generatedTokens, long decodeNanos) {
        public double prefillTokensPerSecond() {
            return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
        }

        /** Tokens after the first, over the time spent producing them (the first comes out of the prefill). */
        public double decodeTokensPerSecond() {
            return decodeNanos == 0 ? 0 : Math.max(0, generatedTokens - 1) * 1e9 / decodeNanos;
        }
    }
}

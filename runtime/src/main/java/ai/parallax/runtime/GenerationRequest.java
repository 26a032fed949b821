package ai.parallax.runtime;

import ai.parallax.runtime.sampling.SamplingParams;

import java.util.List;
import java.util.Set;

/**
 * One generation: a prompt of token ids and how to continue it.
 *
 * @param maxTokens    the most tokens to generate
 * @param stopStrings  generation ends before the first of these appears in the text (it is not returned)
 * @param stopTokenIds extra ids that end generation, besides the model's end-of-sequence ids
 * @param ignoreEos    keep going past end-of-sequence tokens (for benchmarks)
 * @param logprobs     how many most-likely alternatives to report per token; -1 reports no log-probabilities
 */
public record GenerationRequest(int[] promptIds, int maxTokens, SamplingParams sampling, List<String> stopStrings,
                                Set<Integer> stopTokenIds, boolean ignoreEos, int logprobs) {
    public GenerationRequest {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed");
        }
        if (maxTokens < 0) {
            throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        }
        if (logprobs > 20) {
            throw new IllegalArgumentException("at most 20 top log-probabilities per token, got " + logprobs);
        }
        promptIds = promptIds.clone();
        stopStrings = List.copyOf(stopStrings);
        stopTokenIds = Set.copyOf(stopTokenIds);
    }

    public static GenerationRequest greedy(int[] promptIds, int maxTokens) {
        return new GenerationRequest(promptIds, maxTokens, SamplingParams.GREEDY, List.of(), Set.of(), false, -1);
    }
}

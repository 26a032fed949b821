package ai.parallax.runtime.sampling;

import java.util.List;

/**
 * The log-probability of a chosen token and of the most likely alternatives at that step, under the model's
 * distribution (log-softmax of the raw logits, before penalties and sampling filters), as OpenAI's
 * {@code logprobs} reports them.
 */
public record TokenLogprob(int token, double logprob, List<Alternative> top) {

    /** One of the most likely tokens at a step. */
    public record Alternative(int token, double logprob) {
    }
}

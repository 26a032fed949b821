package ai.parallax.runtime.sampling;

/**
 * Everything needed to pick one sequence's next token from its row of logits, apart from the logits themselves:
 * the filters of its {@link SamplingParams} and the uniform number its seeded generator drew for this step. With it
 * the token can be picked wherever the logits are, e.g. on a cluster's last stage, so that only the token id travels
 * back instead of a row of the vocabulary's width. The pick is the same as {@link Sampler#sample}'s for the same
 * draw. Penalties need the sequence's history and are not part of a rule: a sequence with penalties is sampled
 * where its history is.
 *
 * @param draw     uniform in [0, 1), the generator's draw for this step (ignored when greedy)
 * @param logprobs how many most likely alternatives to report with the token's log-probability; -1 for none
 */
public record SamplingRule(double temperature, int topK, double topP, double minP, double draw, int logprobs) {

    public SamplingRule {
        if (!(temperature >= 0) || topK < 0 || !(topP > 0 && topP <= 1) || !(minP >= 0 && minP <= 1)
                || !(draw >= 0 && draw < 1) || logprobs < -1) {
            throw new IllegalArgumentException("invalid sampling rule: temperature " + temperature + ", top_k "
                    + topK + ", top_p " + topP + ", min_p " + minP + ", draw " + draw + ", logprobs " + logprobs);
        }
    }

    public boolean isGreedy() {
        return temperature == 0;
    }
}

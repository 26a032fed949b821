package ai.parallax.runtime.engine;

import ai.parallax.runtime.sampling.SamplingRule;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.BatchLayout;

/**
 * Runs one batched step of the model for the engine: token ids in, the logits of the requested rows out. On one
 * machine this is the whole model ({@link LocalStepRunner}); in a cluster it is the first stage sending hidden
 * states down the pipeline and the last stage's logits coming back.
 */
public interface StepRunner extends AutoCloseable {

    /** Vocabulary size: the width of a row of logits. */
    int vocabularySize();

    /** The most positions a sequence may reach. */
    int maxPositions();

    /**
     * State slots the model keeps per sequence beside its KV blocks (linear attention's recurrent state, sliding
     * layers' rings), 0 when it keeps none. The engine then names a slot for each sequence of a batch, runs at most
     * this many sequences at once, and never shares a cached prefix, since the state of a skipped prefix cannot be
     * shared.
     */
    default int sequenceSlots() {
        return 0;
    }

    /**
     * Runs {@code tokens[0, batch.tokenCount())} laid out as {@code batch} and writes the logits of the rows
     * {@code logitRows} into {@code logits}, row after row.
     */
    void run(BatchLayout batch, int[] tokens, int[] logitRows, float[] logits);

    /**
     * Whether this runner picks tokens where the logits are computed ({@link #run(BatchLayout, int[], int[],
     * SamplingRule[], int[], TokenLogprob[], float[])}): in a cluster the last stage does, so that only token ids
     * travel back to the engine instead of rows of the vocabulary's width.
     */
    default boolean picksTokens() {
        return false;
    }

    /**
     * As {@link #run(BatchLayout, int[], int[], float[])}, with the tokens picked by the runner: for each logit row
     * {@code r} whose {@code rules[r]} is not null, the token picked by that rule goes to {@code picked[r]} and, when
     * the rule asks for them, its log-probabilities to {@code logprobs[r]}; a row whose rule is null (a sequence the
     * engine samples itself, e.g. with penalties) gets its logits in {@code logits} at {@code r × vocabulary} and
     * {@code picked[r] = -1}. Only for a runner that {@link #picksTokens}.
     */
    default void run(BatchLayout batch, int[] tokens, int[] logitRows, SamplingRule[] rules, int[] picked,
                     TokenLogprob[] logprobs, float[] logits) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " returns logits; it picks no tokens");
    }

    @Override
    void close();
}

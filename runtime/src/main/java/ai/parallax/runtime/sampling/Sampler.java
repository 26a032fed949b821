package ai.parallax.runtime.sampling;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks the next token of one sequence from a row of logits: penalties, then temperature, top-k, top-p and min-p
 * ({@link TokenPicker}), then a draw from the seeded generator. A pure decision: no threads, no clock; the same seed
 * and inputs give the same tokens.
 *
 * <p>The pick itself can also happen elsewhere (a cluster's last stage, where the logits are): {@link #rule} hands
 * out this step's draw and filters as a {@link SamplingRule}, and the token comes back to {@link #accept}. A step
 * that fails and runs again gets the same draw, so a replayed sequence samples what it would have sampled.
 *
 * <p>One sampler serves one sequence. Its scratch arrays are sized to the vocabulary once, so a step allocates
 * nothing.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private final TokenPicker picker;
    private final float[] work;
    private final int[] outputCounts;
    private final boolean[] seen;
    /** This step's draw once made, until a token is accepted; NaN before. */
    private double draw = Double.NaN;

    public Sampler(SamplingParams params, int vocabularySize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() != null ? params.seed() : System.nanoTime());
        this.picker = new TokenPicker(vocabularySize);
        this.work = new float[vocabularySize];
        this.outputCounts = new int[vocabularySize];
        this.seen = new boolean[vocabularySize];
    }

    /** Tokens of the prompt count for the repetition penalty (not for presence/frequency, which look at output). */
    public void acceptPrompt(int[] prompt, int count) {
        for (int i = 0; i < count; i++) {
            seen[prompt[i]] = true;
        }
    }

    /** Records a generated token. */
    public void accept(int token) {
        seen[token] = true;
        outputCounts[token]++;
        draw = Double.NaN;
    }

    /** Whether a penalty applies: the pick then needs this sequence's history, so it happens here. */
    public boolean penalises() {
        return params.repetitionPenalty() != 1 || params.presencePenalty() != 0 || params.frequencyPenalty() != 0;
    }

    /**
     * This step's pick as a rule to apply where the logits are; only for a sampler that does not
     * {@link #penalises penalise}.
     *
     * @param logprobs alternatives to report with the token's log-probability, -1 for none
     */
    public SamplingRule rule(int logprobs) {
        if (penalises()) {
            throw new IllegalStateException("a sampler with penalties picks from the logits itself");
        }
        return new SamplingRule(params.temperature(), params.topK(), params.topP(), params.minP(),
                params.isGreedy() ? 0 : draw(), logprobs);
    }

    /** The next token for these logits ({@code vocabularySize} values from {@code offset}); logits are not changed. */
    public int sample(float[] logits, int offset) {
        int n = work.length;
        System.arraycopy(logits, offset, work, 0, n);
        applyPenalties(work);
        if (params.isGreedy()) {
            return argmax(work, 0, n);
        }
        return picker.pick(work, 0, params.temperature(), params.topK(), params.topP(), params.minP(), draw());
    }

    private double draw() {
        if (Double.isNaN(draw)) {
            draw = random.nextDouble();
        }
        return draw;
    }

    private void applyPenalties(float[] x) {
        double rep = params.repetitionPenalty();
        double presence = params.presencePenalty();
        double frequency = params.frequencyPenalty();
        if (rep == 1 && presence == 0 && frequency == 0) {
            return;
        }
        for (int i = 0; i < x.length; i++) {
            if (seen[i] && rep != 1) {
                x[i] = (float) (x[i] > 0 ? x[i] / rep : x[i] * rep);
            }
            int count = outputCounts[i];
            if (count > 0) {
                x[i] -= (float) (presence + frequency * count);
            }
        }
    }

    /** Index of the largest value (the first on ties). */
    public static int argmax(float[] x, int offset, int length) {
        int best = 0;
        float bestValue = x[offset];
        for (int i = 1; i < length; i++) {
            if (x[offset + i] > bestValue) {
                bestValue = x[offset + i];
                best = i;
            }
        }
        return best;
    }

    /**
     * Log-probabilities of {@code token} and of the {@code top} most likely tokens under softmax(logits), computed in
     * double precision.
     */
    public static TokenLogprob logprobs(float[] logits, int offset, int length, int token, int top) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < length; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < length; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        double logSum = max + Math.log(sum);
        List<TokenLogprob.Alternative> alternatives = new ArrayList<>(top);
        if (top > 0) {
            // Partial selection of the top entries: top is small (OpenAI allows up to 20).
            int[] best = new int[Math.min(top, length)];
            int filled = 0;
            for (int i = 0; i < length; i++) {
                float v = logits[offset + i];
                if (filled < best.length) {
                    int j = filled++;
                    while (j > 0 && logits[offset + best[j - 1]] < v) {
                        best[j] = best[j - 1];
                        j--;
                    }
                    best[j] = i;
                } else if (v > logits[offset + best[filled - 1]]) {
                    int j = filled - 1;
                    while (j > 0 && logits[offset + best[j - 1]] < v) {
                        best[j] = best[j - 1];
                        j--;
                    }
                    best[j] = i;
                }
            }
            for (int i = 0; i < filled; i++) {
                alternatives.add(new TokenLogprob.Alternative(best[i], logits[offset + best[i]] - logSum));
            }
        }
        return new TokenLogprob(token, logits[offset + token] - logSum, List.copyOf(alternatives));
    }
}

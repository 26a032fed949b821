package ai.parallax.runtime.sampling;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: penalties, then temperature, top-k, top-p and min-p (the order
 * transformers applies its logits processors in), then a draw from the seeded generator. A pure decision: no
 * threads, no clock; the same seed and inputs give the same tokens.
 *
 * <p>One sampler serves one sequence. Its scratch arrays are sized to the vocabulary once, so a step allocates
 * nothing.
 */
public final class Sampler {
    private final SamplingParams params;
    private final SplittableRandom random;
    private final float[] work;
    private final long[] order;
    private final int[] outputCounts;
    private final boolean[] seen;

    public Sampler(SamplingParams params, int vocabularySize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() != null ? params.seed() : System.nanoTime());
        this.work = new float[vocabularySize];
        this.order = new long[vocabularySize];
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
    }

    /** The next token for these logits ({@code vocabularySize} values from {@code offset}); logits are not changed. */
    public int sample(float[] logits, int offset) {
        int n = work.length;
        System.arraycopy(logits, offset, work, 0, n);
        applyPenalties(work);
        if (params.isGreedy()) {
            return argmax(work, 0, n);
        }
        float invTemperature = (float) (1.0 / params.temperature());
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            work[i] *= invTemperature;
            max = Math.max(max, work[i]);
        }
        // Candidates as sortable (logit, index) keys, best first.
        int candidates = 0;
        for (int i = 0; i < n; i++) {
            if (work[i] != Float.NEGATIVE_INFINITY) {
                order[candidates++] = sortKey(work[i], i);
            }
        }
        Arrays.sort(order, 0, candidates); // ascending keys = descending logits
        if (params.topK() > 0) {
            candidates = Math.min(candidates, params.topK());
        }
        // Softmax over the survivors, in sorted order.
        double sum = 0;
        for (int c = 0; c < candidates; c++) {
            sum += Math.exp(work[indexOf(order[c])] - max);
        }
        // top-p: the smallest prefix whose probability reaches p (at least one token).
        if (params.topP() < 1) {
            double cumulative = 0;
            int keep = candidates;
            for (int c = 0; c < candidates; c++) {
                cumulative += Math.exp(work[indexOf(order[c])] - max) / sum;
                if (cumulative >= params.topP()) {
                    keep = c + 1;
                    break;
                }
            }
            candidates = keep;
            sum = 0;
            for (int c = 0; c < candidates; c++) {
                sum += Math.exp(work[indexOf(order[c])] - max);
            }
        }
        // min-p: drop tokens less likely than minP × the top token's probability.
        if (params.minP() > 0) {
            double threshold = params.minP() * Math.exp(work[indexOf(order[0])] - max) / sum;
            int keep = 1;
            while (keep < candidates && Math.exp(work[indexOf(order[keep])] - max) / sum >= threshold) {
                keep++;
            }
            candidates = keep;
            sum = 0;
            for (int c = 0; c < candidates; c++) {
                sum += Math.exp(work[indexOf(order[c])] - max);
            }
        }
        double draw = random.nextDouble() * sum;
        for (int c = 0; c < candidates; c++) {
            draw -= Math.exp(work[indexOf(order[c])] - max);
            if (draw <= 0) {
                return indexOf(order[c]);
            }
        }
        return indexOf(order[candidates - 1]);
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

    /** A long that sorts ascending in order of descending logit, then ascending index. */
    private static long sortKey(float logit, int index) {
        int bits = Float.floatToIntBits(logit);
        // Map float order to unsigned int order, then invert for descending.
        int ordered = bits < 0 ? ~bits : bits | 0x80000000;
        long descending = 0xFFFFFFFFL - (ordered & 0xFFFFFFFFL);
        return (descending << 32) | index;
    }

    private static int indexOf(long key) {
        return (int) key;
    }
}

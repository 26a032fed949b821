package ai.parallax.runtime.sampling;

import java.util.Arrays;

/**
 * Picks a token from a row of (already penalised) logits: greedy argmax, or temperature, top-k, top-p and min-p
 * (the order transformers applies its logits processors in) and then the given uniform draw. A pure function of its
 * inputs; the scratch arrays are sized to the vocabulary once, so a pick allocates nothing.
 */
public final class TokenPicker {
    private final float[] work;
    private final long[] order;

    public TokenPicker(int vocabularySize) {
        this.work = new float[vocabularySize];
        this.order = new long[vocabularySize];
    }

    /** Picks by {@code rule} from {@code vocabularySize} logits at {@code offset}; the logits are not changed. */
    public int pick(float[] logits, int offset, SamplingRule rule) {
        return pick(logits, offset, rule.temperature(), rule.topK(), rule.topP(), rule.minP(), rule.draw());
    }

    /** As {@link #pick(float[], int, SamplingRule)}, with the rule's fields given one by one. */
    public int pick(float[] logits, int offset, double temperature, int topK, double topP, double minP,
                    double draw) {
        int n = work.length;
        if (temperature == 0) {
            return Sampler.argmax(logits, offset, n);
        }
        float invTemperature = (float) (1.0 / temperature);
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            work[i] = logits[offset + i] * invTemperature;
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
        if (topK > 0) {
            candidates = Math.min(candidates, topK);
        }
        // Softmax over the survivors, in sorted order.
        double sum = weightOfFirst(candidates, max);
        // top-p: the smallest prefix whose probability reaches p (at least one token).
        if (topP < 1) {
            double cumulative = 0;
            int keep = candidates;
            for (int c = 0; c < candidates; c++) {
                cumulative += Math.exp(work[indexOf(order[c])] - max) / sum;
                if (cumulative >= topP) {
                    keep = c + 1;
                    break;
                }
            }
            candidates = keep;
            sum = weightOfFirst(candidates, max);
        }
        // min-p: drop tokens less likely than minP × the top token's probability.
        if (minP > 0) {
            double threshold = minP * Math.exp(work[indexOf(order[0])] - max) / sum;
            int keep = 1;
            while (keep < candidates && Math.exp(work[indexOf(order[keep])] - max) / sum >= threshold) {
                keep++;
            }
            candidates = keep;
            sum = weightOfFirst(candidates, max);
        }
        double remaining = draw * sum;
        for (int c = 0; c < candidates; c++) {
            remaining -= Math.exp(work[indexOf(order[c])] - max);
            if (remaining <= 0) {
                return indexOf(order[c]);
            }
        }
        return indexOf(order[candidates - 1]);
    }

    /** The unnormalised softmax weight of the first {@code candidates} in sorted order. */
    private double weightOfFirst(int candidates, float max) {
        double sum = 0;
        for (int c = 0; c < candidates; c++) {
            sum += Math.exp(work[indexOf(order[c])] - max);
        }
        return sum;
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

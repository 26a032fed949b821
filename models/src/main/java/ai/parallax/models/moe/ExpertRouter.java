package ai.parallax.models.moe;

/**
 * The routing decision of an MoE layer, as a pure function of the router logits. By default it is Qwen-MoE's: per
 * token, a softmax over all experts, the top k of it, renormalised to sum to 1 when {@code norm_topk_prob} is set;
 * other architectures supply their own {@link Selection}. The choices are then grouped by expert (a counting sort),
 * so that each expert runs once per step on the batch of tokens routed to it.
 *
 * <p>After {@link #route}, expert {@code e}'s entries are {@code [start(e), end(e))} of {@link #tokens()} (the
 * token each came from, ascending) and {@link #weights()} (its routing weight). The arrays are reused, so routing
 * allocates nothing once it has seen its largest batch.
 */
public final class ExpertRouter {

    /**
     * How one token picks its experts: from the router logits {@code logits[row, row + experts)}, write the k chosen
     * experts (distinct) into {@code chosen} and their routing weights into {@code weights}. Must not allocate.
     */
    @FunctionalInterface
    public interface Selection {
        void choose(float[] logits, int row, int[] chosen, double[] weights);
    }

    private final int experts;
    private final int topK;
    private final boolean normalize;
    private final Selection selection;
    private final int[] offsets;
    private final int[] chosen;          // topK experts of the token being routed
    private final double[] chosenWeight;
    private int[] choiceExpert = new int[0];   // [T·k], token-major
    private float[] choiceWeight = new float[0];
    private int[] tokens = new int[0];         // [T·k], grouped by expert
    private float[] weights = new float[0];

    public ExpertRouter(int experts, int topK, boolean normalize) {
        this(experts, topK, normalize, null);
    }

    /** A router whose per-token choice is {@code selection} rather than Qwen-MoE's softmax top-k. */
    public ExpertRouter(int experts, int topK, Selection selection) {
        this(experts, topK, false, java.util.Objects.requireNonNull(selection, "selection"));
    }

    private ExpertRouter(int experts, int topK, boolean normalize, Selection selection) {
        if (topK <= 0 || topK > experts) {
            throw new IllegalArgumentException("top-" + topK + " of " + experts + " experts");
        }
        this.experts = experts;
        this.topK = topK;
        this.normalize = normalize;
        this.selection = selection != null ? selection : this::chooseTopK;
        this.offsets = new int[experts + 1];
        this.chosen = new int[topK];
        this.chosenWeight = new double[topK];
    }

    /** Routes {@code count} tokens whose router logits are rows of {@code logits} ({@code [count, experts]}). */
    public void route(float[] logits, int count) {
        int entries = count * topK;
        if (tokens.length < entries) {
            choiceExpert = new int[entries];
            choiceWeight = new float[entries];
            tokens = new int[entries];
            weights = new float[entries];
        }
        java.util.Arrays.fill(offsets, 0);
        for (int t = 0; t < count; t++) {
            selection.choose(logits, t * experts, chosen, chosenWeight);
            for (int j = 0; j < topK; j++) {
                choiceExpert[t * topK + j] = chosen[j];
                choiceWeight[t * topK + j] = (float) chosenWeight[j];
                offsets[chosen[j] + 1]++;
            }
        }
        for (int e = 0; e < experts; e++) {
            offsets[e + 1] += offsets[e];
        }
        // Place entries by expert; walking tokens in order keeps each expert's tokens ascending.
        for (int i = 0; i < entries; i++) {
            int e = choiceExpert[i];
            int at = offsets[e]++;
            tokens[at] = i / topK;
            weights[at] = choiceWeight[i];
        }
        for (int e = experts; e > 0; e--) {
            offsets[e] = offsets[e - 1];
        }
        offsets[0] = 0;
    }

    /**
     * Top k of softmax(row) by selection (k is small). The softmax is monotonic, so the top k of the logits are the
     * top k of the probabilities; ties go to the lower expert index. Probabilities are computed in double.
     */
    private void chooseTopK(float[] logits, int row, int[] chosen, double[] chosenWeight) {
        double max = Double.NEGATIVE_INFINITY;
        for (int e = 0; e < experts; e++) {
            max = Math.max(max, logits[row + e]);
        }
        double total = 0;
        for (int e = 0; e < experts; e++) {
            total += Math.exp(logits[row + e] - max);
        }
        double chosenTotal = 0;
        for (int j = 0; j < topK; j++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                if (!alreadyChosen(e, j) && (best < 0 || logits[row + e] > logits[row + best])) {
                    best = e;
                }
            }
            chosen[j] = best;
            chosenWeight[j] = Math.exp(logits[row + best] - max) / total;
            chosenTotal += chosenWeight[j];
        }
        if (normalize) {
            for (int j = 0; j < topK; j++) {
                chosenWeight[j] /= chosenTotal;
            }
        }
    }

    private boolean alreadyChosen(int expert, int upTo) {
        for (int j = 0; j < upTo; j++) {
            if (chosen[j] == expert) {
                return true;
            }
        }
        return false;
    }

    /** First entry of expert {@code e}. */
    public int start(int expert) {
        return offsets[expert];
    }

    /** One past the last entry of expert {@code e}. */
    public int end(int expert) {
        return offsets[expert + 1];
    }

    /** Token of each entry, grouped by expert. */
    public int[] tokens() {
        return tokens;
    }

    /** Routing weight of each entry, grouped by expert. */
    public float[] weights() {
        return weights;
    }
}

package ai.parallax.models.deepseek;

import ai.parallax.models.moe.ExpertRouter;

/**
 * DeepSeek-V3's expert choice ({@code topk_method: noaux_tc}), a pure function of one token's router logits:
 *
 * <pre>
 * score = sigmoid(logit);  biased = score + e_score_correction_bias         (the bias steers selection only)
 * group score = sum of the top 2 biased scores of each of n_group equal groups
 * keep the topk_group best groups; pick the top k biased scores among their experts
 * weight = score (unbiased) of each pick, / their sum (+1e-20) when norm_topk_prob, × routed_scaling_factor
 * </pre>
 *
 * Kimi-K2 is the case {@code n_group = topk_group = 1}. Ties go to the lower index, groups and experts alike.
 */
public final class GroupLimitedSelection implements ExpertRouter.Selection {
    private final float[] correctionBias;
    private final int experts;
    private final int groups;
    private final int groupSize;
    private final int groupsPerToken;
    private final int topK;
    private final boolean normalize;
    private final double scaling;
    private final double[] scores;
    private final double[] biased;
    private final double[] groupScores;
    private final boolean[] groupKept;

    public GroupLimitedSelection(float[] correctionBias, int groups, int groupsPerToken, int topK, boolean normalize,
                                 double scaling) {
        this.correctionBias = correctionBias.clone();
        this.experts = correctionBias.length;
        if (groups <= 0 || experts % groups != 0 || groupsPerToken <= 0 || groupsPerToken > groups) {
            throw new IllegalArgumentException(experts + " experts in " + groups + " groups, " + groupsPerToken
                    + " groups per token");
        }
        this.groups = groups;
        this.groupSize = experts / groups;
        this.groupsPerToken = groupsPerToken;
        if (topK <= 0 || topK > groupsPerToken * groupSize) {
            throw new IllegalArgumentException("top-" + topK + " of the " + groupsPerToken * groupSize
                    + " experts in " + groupsPerToken + " groups of " + groupSize);
        }
        this.topK = topK;
        this.normalize = normalize;
        this.scaling = scaling;
        this.scores = new double[experts];
        this.biased = new double[experts];
        this.groupScores = new double[groups];
        this.groupKept = new boolean[groups];
    }

    @Override
    public void choose(float[] logits, int row, int[] chosen, double[] weights) {
        for (int e = 0; e < experts; e++) {
            scores[e] = 1.0 / (1.0 + Math.exp(-logits[row + e]));
            biased[e] = scores[e] + correctionBias[e];
        }
        for (int g = 0; g < groups; g++) {
            groupScores[g] = topTwoSum(g * groupSize);
            groupKept[g] = false;
        }
        for (int j = 0; j < groupsPerToken; j++) {
            int best = -1;
            for (int g = 0; g < groups; g++) {
                if (!groupKept[g] && (best < 0 || groupScores[g] > groupScores[best])) {
                    best = g;
                }
            }
            groupKept[best] = true;
        }
        double total = 0;
        for (int j = 0; j < topK; j++) {
            int best = -1;
            for (int e = 0; e < experts; e++) {
                if (groupKept[e / groupSize] && !taken(chosen, j, e) && (best < 0 || biased[e] > biased[best])) {
                    best = e;
                }
            }
            chosen[j] = best;
            weights[j] = scores[best];
            total += scores[best];
        }
        double factor = normalize ? scaling / (total + 1e-20) : scaling;
        for (int j = 0; j < topK; j++) {
            weights[j] *= factor;
        }
    }

    /** Sum of the two largest biased scores of the group starting at {@code first} (one with a group of one). */
    private double topTwoSum(int first) {
        double a = Double.NEGATIVE_INFINITY;
        double b = Double.NEGATIVE_INFINITY;
        for (int e = first; e < first + groupSize; e++) {
            double s = biased[e];
            if (s > a) {
                b = a;
                a = s;
            } else if (s > b) {
                b = s;
            }
        }
        return groupSize == 1 ? a : a + b;
    }

    private static boolean taken(int[] chosen, int count, int expert) {
        for (int j = 0; j < count; j++) {
            if (chosen[j] == expert) {
                return true;
            }
        }
        return false;
    }
}

package ai.parallax.models.deepseek;

import ai.parallax.models.DenseFeedForward;
import ai.parallax.models.FeedForward;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.moe.ExpertRouter;
import ai.parallax.models.moe.MixtureOfExperts;
import ai.parallax.models.moe.MoeConfig;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

import java.util.Set;

/**
 * DeepSeek-V3's sparse feed-forward step: the routed experts, chosen by {@link GroupLimitedSelection}, plus the
 * shared experts that every token goes through with weight 1 (one MLP of {@code moe_intermediate_size ×
 * n_shared_experts}, as the checkpoint stores them).
 */
final class DeepSeekMixtureOfExperts implements FeedForward {
    private final MixtureOfExperts routed;
    private final DenseFeedForward shared; // null without shared experts
    private final long biasBytes;

    private DeepSeekMixtureOfExperts(MixtureOfExperts routed, DenseFeedForward shared, long biasBytes) {
        this.routed = routed;
        this.shared = shared;
        this.biasBytes = biasBytes;
    }

    /** Loads {@code prefix + "gate.*"}, {@code "experts.E.*"} and {@code "shared_experts.*"}. */
    static DeepSeekMixtureOfExperts load(WeightLoader w, Ops ops, ScratchBuffers scratch, String prefix,
                                         DeepSeekConfig ds, long hidden) {
        int n = ds.routedExperts();
        long inter = ds.expertIntermediate();
        Tensor router = w.require(prefix + "gate.weight", n, hidden);
        Tensor bias = w.require(prefix + "gate.e_score_correction_bias", n);
        float[] correction = new float[n];
        for (int e = 0; e < n; e++) {
            correction[e] = FloatFormats.readFloat(bias, e);
        }
        Tensor[] gates = new Tensor[n];
        Tensor[] ups = new Tensor[n];
        Tensor[] downs = new Tensor[n];
        for (int e = 0; e < n; e++) {
            String p = prefix + "experts." + e + ".";
            gates[e] = w.require(p + "gate_proj.weight", inter, hidden);
            ups[e] = w.require(p + "up_proj.weight", inter, hidden);
            downs[e] = w.require(p + "down_proj.weight", hidden, inter);
        }
        MoeConfig moe = new MoeConfig(n, ds.expertsPerToken(), ds.expertIntermediate(), ds.normalizeTopK(), 1,
                Set.of(), 0);
        ExpertRouter routing = new ExpertRouter(n, ds.expertsPerToken(), new GroupLimitedSelection(correction,
                ds.groups(), ds.groupsPerToken(), ds.expertsPerToken(), ds.normalizeTopK(),
                ds.routedScalingFactor()));
        MixtureOfExperts routed = MixtureOfExperts.of(ops, scratch, moe, router, gates, ups, downs, null, null,
                routing);
        DenseFeedForward shared = ds.sharedExperts() == 0 ? null : DenseFeedForward.load(w, ops, scratch,
                prefix + "shared_experts.", hidden, inter * ds.sharedExperts(), false);
        return new DeepSeekMixtureOfExperts(routed, shared, bias.byteSize());
    }

    @Override
    public void addTo(Tensor x, Tensor residual) {
        routed.addTo(x, residual);
        if (shared != null) {
            shared.addTo(x, residual);
        }
    }

    @Override
    public long weightBytes() {
        return routed.weightBytes() + biasBytes + (shared == null ? 0 : shared.weightBytes());
    }
}

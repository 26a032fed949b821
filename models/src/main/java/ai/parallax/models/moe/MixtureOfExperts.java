package ai.parallax.models.moe;

import ai.parallax.models.DenseFeedForward;
import ai.parallax.models.FeedForward;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

/**
 * The sparse feed-forward step of Qwen3-MoE and Qwen2-MoE:
 *
 * <pre>
 * router logits = x · gateᵀ → per token: softmax, top k (renormalised if norm_topk_prob)
 * for each expert with tokens: gather its tokens → down(silu(gate(x)) · up(x)) → residual += weight · out
 * Qwen2-MoE also: residual += sigmoid(x · shared_expert_gateᵀ) · shared_expert(x)
 * </pre>
 *
 * Tokens are grouped by expert, so each routed expert's weights stream from memory once per step however many
 * tokens chose it, and experts nobody chose are not read at all.
 */
public final class MixtureOfExperts implements FeedForward {
    private final Ops ops;
    private final Tensor router;
    private final Tensor[] gates;
    private final Tensor[] ups;
    private final Tensor[] downs;
    private final DenseFeedForward sharedExpert;   // null without one
    private final Tensor sharedExpertGate;         // [1, hidden], with the shared expert
    private final ExpertRouter routing;
    private final int experts;
    private final long bytesPerExpert;
    private final ScratchBuffers.Slot routerLogits;
    private final ScratchBuffers.Slot expertInput;
    private final ScratchBuffers.Slot expertGate;
    private final ScratchBuffers.Slot expertUp;
    private final ScratchBuffers.Slot expertOutput;
    private final ScratchBuffers.Slot sharedGateLogit;
    private float[] hostLogits = new float[0];
    private float[] sharedWeights = new float[0];
    private int[] identity = new int[0];
    private long expertBytesRead;

    private MixtureOfExperts(Ops ops, ScratchBuffers scratch, MoeConfig config, Tensor router, Tensor[] gates,
                             Tensor[] ups, Tensor[] downs, DenseFeedForward sharedExpert, Tensor sharedExpertGate,
                             ExpertRouter routing) {
        this.ops = ops;
        this.router = router;
        this.gates = gates;
        this.ups = ups;
        this.downs = downs;
        this.sharedExpert = sharedExpert;
        this.sharedExpertGate = sharedExpertGate;
        this.experts = config.experts();
        this.routing = routing != null ? routing
                : new ExpertRouter(config.experts(), config.expertsPerToken(), config.normalizeTopK());
        this.bytesPerExpert = bytes(gates[0]) + bytes(ups[0]) + bytes(downs[0]);
        long hidden = router.rowLength();
        long intermediate = gates[0].rowCount();
        this.routerLogits = scratch.slot("moe.router", experts);
        this.expertInput = scratch.slot("moe.input", hidden);
        this.expertGate = scratch.slot("moe.gate", intermediate);
        this.expertUp = scratch.slot("moe.up", intermediate);
        this.expertOutput = scratch.slot("moe.out", hidden);
        this.sharedGateLogit = scratch.slot("moe.sharedGate", 1);
    }

    /**
     * A mixture of experts over tensors already in memory (benchmarks, tests): {@code gates[e]}, {@code ups[e]}
     * ({@code [moe_intermediate, hidden]}) and {@code downs[e]} ({@code [hidden, moe_intermediate]}) for every
     * expert; {@code sharedExpert} and {@code sharedExpertGate} null without a shared expert.
     */
    public static MixtureOfExperts of(Ops ops, ScratchBuffers scratch, MoeConfig config, Tensor router,
                                      Tensor[] gates, Tensor[] ups, Tensor[] downs, DenseFeedForward sharedExpert,
                                      Tensor sharedExpertGate) {
        return of(ops, scratch, config, router, gates, ups, downs, sharedExpert, sharedExpertGate, null);
    }

    /**
     * As {@link #of(Ops, ScratchBuffers, MoeConfig, Tensor, Tensor[], Tensor[], Tensor[], DenseFeedForward, Tensor)},
     * routed by {@code routing} (an architecture's own selection rule; null for Qwen-MoE's softmax top-k).
     */
    public static MixtureOfExperts of(Ops ops, ScratchBuffers scratch, MoeConfig config, Tensor router,
                                      Tensor[] gates, Tensor[] ups, Tensor[] downs, DenseFeedForward sharedExpert,
                                      Tensor sharedExpertGate, ExpertRouter routing) {
        if (gates.length != config.experts() || ups.length != config.experts() || downs.length != config.experts()) {
            throw new IllegalArgumentException(config.experts() + " experts configured but " + gates.length + "/"
                    + ups.length + "/" + downs.length + " gate/up/down weights given");
        }
        return new MixtureOfExperts(ops, scratch, config, router, gates.clone(), ups.clone(), downs.clone(),
                sharedExpert, sharedExpertGate, routing);
    }

    /**
     * Loads the experts under {@code prefix} ({@code "model.layers.N.mlp."}): {@code gate.weight},
     * {@code experts.E.{gate,up,down}_proj.weight}, and with a shared expert {@code shared_expert.*} and
     * {@code shared_expert_gate.weight}. Every expert is mapped; only routed ones are read at run time.
     */
    public static MixtureOfExperts load(WeightLoader w, Ops ops, ScratchBuffers scratch, String prefix,
                                        MoeConfig config, long hidden) {
        int n = config.experts();
        long inter = config.expertIntermediate();
        Tensor router = w.require(prefix + "gate.weight", n, hidden);
        Tensor[] gates = new Tensor[n];
        Tensor[] ups = new Tensor[n];
        Tensor[] downs = new Tensor[n];
        for (int e = 0; e < n; e++) {
            String p = prefix + "experts." + e + ".";
            gates[e] = w.require(p + "gate_proj.weight", inter, hidden);
            ups[e] = w.require(p + "up_proj.weight", inter, hidden);
            downs[e] = w.require(p + "down_proj.weight", hidden, inter);
        }
        DenseFeedForward shared = null;
        Tensor sharedGate = null;
        if (config.hasSharedExpert()) {
            shared = DenseFeedForward.load(w, ops, scratch, prefix + "shared_expert.", hidden,
                    config.sharedExpertIntermediate(), false);
            sharedGate = w.require(prefix + "shared_expert_gate.weight", 1, hidden);
        }
        return new MixtureOfExperts(ops, scratch, config, router, gates, ups, downs, shared, sharedGate, null);
    }

    @Override
    public void addTo(Tensor x, Tensor residual) {
        int count = (int) x.rowCount();
        Tensor logits = routerLogits.rows(count);
        ops.matmul(x, router, null, logits);
        if (hostLogits.length < count * experts) {
            hostLogits = new float[count * experts];
        }
        ops.copyToHost(logits, hostLogits, 0);
        routing.route(hostLogits, count);

        int[] tokens = routing.tokens();
        float[] weights = routing.weights();
        for (int e = 0; e < experts; e++) {
            int start = routing.start(e);
            int routed = routing.end(e) - start;
            if (routed == 0) {
                continue;
            }
            Tensor in = expertInput.rows(routed);
            Tensor gate = expertGate.rows(routed);
            Tensor up = expertUp.rows(routed);
            Tensor out = expertOutput.rows(routed);
            ops.gatherRows(x, tokens, start, routed, in);
            ops.matmul(in, gates[e], null, gate);
            ops.matmul(in, ups[e], null, up);
            ops.siluMul(gate, up, gate);
            ops.matmul(gate, downs[e], null, out);
            ops.scatterAddRows(out, tokens, weights, start, routed, residual);
            expertBytesRead += bytesPerExpert;
        }

        if (sharedExpert != null) {
            addSharedExpert(x, residual, count);
        }
    }

    /** Qwen2-MoE: every token also goes through the shared expert, scaled by a sigmoid gate of its own. */
    private void addSharedExpert(Tensor x, Tensor residual, int count) {
        Tensor gateLogit = sharedGateLogit.rows(count);
        ops.matmul(x, sharedExpertGate, null, gateLogit);
        if (sharedWeights.length < count) {
            sharedWeights = new float[count];
            identity = new int[count];
            for (int t = 0; t < count; t++) {
                identity[t] = t;
            }
        }
        ops.copyToHost(gateLogit, sharedWeights, 0);
        for (int t = 0; t < count; t++) {
            sharedWeights[t] = (float) (1 / (1 + Math.exp(-sharedWeights[t])));
        }
        Tensor shared = sharedExpert.apply(x);
        ops.scatterAddRows(shared, identity, sharedWeights, 0, count, residual);
    }

    @Override
    public long weightBytes() {
        long total = bytes(router) + experts * bytesPerExpert;
        if (sharedExpert != null) {
            total += sharedExpert.weightBytes() + bytes(sharedExpertGate);
        }
        return total;
    }

    /** Bytes of one expert's three matrices (with their scales): what routing a step to it streams. */
    public long bytesPerExpert() {
        return bytesPerExpert;
    }

    /** Expert weight bytes read by all steps so far: each routed expert counts once per step. */
    public long expertBytesRead() {
        return expertBytesRead;
    }

    private static long bytes(Tensor t) {
        return t.byteSize() + (t.blockScales() == null ? 0 : t.blockScales().scales().byteSize());
    }
}

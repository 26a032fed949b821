package ai.parallax.models.gptoss;

import ai.parallax.models.FeedForward;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.moe.ExpertRouter;
import ai.parallax.tensors.Mxfp4;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

/**
 * The feed-forward step of gpt-oss: a mixture of MXFP4 experts.
 *
 * <pre>
 * router logits = x · Wᵀ + b → per token: top k of the logits, softmax over those k
 * for each expert with tokens: gather → gate_up (+bias, gate/up interleaved) → clamped SwiGLU → down (+bias)
 *                              → residual += routing weight · out
 * </pre>
 *
 * The checkpoint's {@code gate_up_proj_blocks [E, 2I, H/32, 16]} and {@code down_proj_blocks [E, H, I/32, 16]} are
 * viewed as one MXFP4 matrix per expert ({@link Mxfp4}): rows are output features, so expert e's rows are a
 * contiguous slice. The codes are decoded inside the matrix product ({@link Ops#matmulMxfp4}); nothing is expanded.
 *
 * <p>Softmax over the top k logits equals a softmax over all experts restricted to the top k and renormalised, which
 * is what {@link ExpertRouter} computes with normalisation on.
 */
public final class GptOssExperts implements FeedForward {
    private final Ops ops;
    private final Tensor router;
    private final Tensor routerBias;
    private final Tensor[] gateUpBlocks;
    private final Tensor[] gateUpScales;
    private final Tensor[] gateUpBias;
    private final Tensor[] downBlocks;
    private final Tensor[] downScales;
    private final Tensor[] downBias;
    private final ExpertRouter routing;
    private final int experts;
    private final float swigluLimit;
    private final long weightBytes;
    private final ScratchBuffers.Slot routerLogits;
    private final ScratchBuffers.Slot expertInput;
    private final ScratchBuffers.Slot expertGateUp;
    private final ScratchBuffers.Slot expertActivation;
    private final ScratchBuffers.Slot expertOutput;
    private float[] hostLogits = new float[0];

    private GptOssExperts(Ops ops, ScratchBuffers scratch, GptOssConfig config, long hidden, long intermediate,
                          Tensor router, Tensor routerBias, Tensor gateUpBlocks, Tensor gateUpScales,
                          Tensor gateUpBias, Tensor downBlocks, Tensor downScales, Tensor downBias) {
        this.ops = ops;
        this.router = router;
        this.routerBias = routerBias;
        this.experts = config.experts();
        this.swigluLimit = config.swigluLimit();
        this.routing = new ExpertRouter(experts, config.expertsPerToken(), true);
        this.weightBytes = router.byteSize() + routerBias.byteSize() + gateUpBlocks.byteSize()
                + gateUpScales.byteSize() + gateUpBias.byteSize() + downBlocks.byteSize() + downScales.byteSize()
                + downBias.byteSize();
        // One MXFP4 matrix per expert: [2I, H] for gate_up, [H, I] for down, as rows of the stacked tensors.
        Tensor gu = gateUpBlocks.reshape(experts * 2 * intermediate, hidden / 2);
        Tensor gus = gateUpScales.reshape(experts * 2 * intermediate, hidden / Mxfp4.BLOCK);
        Tensor d = downBlocks.reshape(experts * hidden, intermediate / 2);
        Tensor ds = downScales.reshape(experts * hidden, intermediate / Mxfp4.BLOCK);
        this.gateUpBlocks = new Tensor[experts];
        this.gateUpScales = new Tensor[experts];
        this.gateUpBias = new Tensor[experts];
        this.downBlocks = new Tensor[experts];
        this.downScales = new Tensor[experts];
        this.downBias = new Tensor[experts];
        for (int e = 0; e < experts; e++) {
            this.gateUpBlocks[e] = gu.rows(e * 2 * intermediate, 2 * intermediate);
            this.gateUpScales[e] = gus.rows(e * 2 * intermediate, 2 * intermediate);
            this.gateUpBias[e] = gateUpBias.rows(e, 1);
            this.downBlocks[e] = d.rows(e * hidden, hidden);
            this.downScales[e] = ds.rows(e * hidden, hidden);
            this.downBias[e] = downBias.rows(e, 1);
        }
        this.routerLogits = scratch.slot("gptoss.router", experts);
        this.expertInput = scratch.slot("gptoss.expertInput", hidden);
        this.expertGateUp = scratch.slot("gptoss.gateUp", 2 * intermediate);
        this.expertActivation = scratch.slot("gptoss.activation", intermediate);
        this.expertOutput = scratch.slot("gptoss.expertOutput", hidden);
    }

    /** Loads the router and experts under {@code prefix} ({@code "model.layers.N.mlp."}), checking every shape. */
    static GptOssExperts load(WeightLoader w, Ops ops, ScratchBuffers scratch, String prefix, GptOssConfig config,
                              long hidden, long intermediate) {
        long e = config.experts();
        return new GptOssExperts(ops, scratch, config, hidden, intermediate,
                w.require(prefix + "router.weight", e, hidden),
                w.require(prefix + "router.bias", e),
                w.requireBytes(prefix + "experts.gate_up_proj_blocks", e, 2 * intermediate, hidden / Mxfp4.BLOCK,
                        Mxfp4.BLOCK_BYTES),
                w.requireBytes(prefix + "experts.gate_up_proj_scales", e, 2 * intermediate, hidden / Mxfp4.BLOCK),
                w.require(prefix + "experts.gate_up_proj_bias", e, 2 * intermediate),
                w.requireBytes(prefix + "experts.down_proj_blocks", e, hidden, intermediate / Mxfp4.BLOCK,
                        Mxfp4.BLOCK_BYTES),
                w.requireBytes(prefix + "experts.down_proj_scales", e, hidden, intermediate / Mxfp4.BLOCK),
                w.require(prefix + "experts.down_proj_bias", e, hidden));
    }

    @Override
    public void addTo(Tensor x, Tensor residual) {
        int count = (int) x.rowCount();
        Tensor logits = routerLogits.rows(count);
        ops.matmul(x, router, routerBias, logits);
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
            Tensor gateUp = expertGateUp.rows(routed);
            Tensor activation = expertActivation.rows(routed);
            Tensor out = expertOutput.rows(routed);
            ops.gatherRows(x, tokens, start, routed, in);
            ops.matmulMxfp4(in, gateUpBlocks[e], gateUpScales[e], gateUpBias[e], gateUp);
            ops.clampedSwiGlu(gateUp, swigluLimit, GptOssConfig.SWIGLU_ALPHA, activation);
            ops.matmulMxfp4(activation, downBlocks[e], downScales[e], downBias[e], out);
            ops.scatterAddRows(out, tokens, weights, start, routed, residual);
        }
    }

    @Override
    public long weightBytes() {
        return weightBytes;
    }
}

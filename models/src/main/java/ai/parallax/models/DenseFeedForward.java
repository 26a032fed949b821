package ai.parallax.models;

import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

/**
 * The gated MLP of Llama and Qwen: {@code down(silu(gate(x)) · up(x))}, biases optional. Also a mixture of
 * experts' shared expert.
 */
public final class DenseFeedForward implements FeedForward {
    private final Ops ops;
    private final Tensor gate;
    private final Tensor gateBias;
    private final Tensor up;
    private final Tensor upBias;
    private final Tensor down;
    private final Tensor downBias;
    private final ScratchBuffers.Slot gated;
    private final ScratchBuffers.Slot upped;
    private final ScratchBuffers.Slot output;

    public DenseFeedForward(Ops ops, ScratchBuffers scratch, Tensor gate, Tensor gateBias, Tensor up, Tensor upBias,
                            Tensor down, Tensor downBias) {
        this.ops = ops;
        this.gate = gate;
        this.gateBias = gateBias;
        this.up = up;
        this.upBias = upBias;
        this.down = down;
        this.downBias = downBias;
        // Slots are keyed by width, so MLPs of different sizes (a shared expert, dense layers) never collide.
        this.gated = scratch.slot("mlp.gate." + gate.rowCount(), gate.rowCount());
        this.upped = scratch.slot("mlp.up." + up.rowCount(), up.rowCount());
        this.output = scratch.slot("mlp.out", down.rowCount());
    }

    /**
     * Loads {@code prefix + "{gate,up,down}_proj.weight"} (and their biases when {@code bias}) for a hidden size and
     * an intermediate size.
     */
    public static DenseFeedForward load(WeightLoader w, Ops ops, ScratchBuffers scratch, String prefix, long hidden,
                                        long intermediate, boolean bias) {
        return new DenseFeedForward(ops, scratch,
                w.require(prefix + "gate_proj.weight", intermediate, hidden),
                w.requireIf(bias, prefix + "gate_proj.bias", intermediate),
                w.require(prefix + "up_proj.weight", intermediate, hidden),
                w.requireIf(bias, prefix + "up_proj.bias", intermediate),
                w.require(prefix + "down_proj.weight", hidden, intermediate),
                w.requireIf(bias, prefix + "down_proj.bias", hidden));
    }

    /** {@code FFN(x)} into a scratch buffer {@code [T, hidden]}, valid until the next call on any MLP. */
    public Tensor apply(Tensor x) {
        int count = (int) x.rowCount();
        Tensor g = gated.rows(count);
        Tensor u = upped.rows(count);
        Tensor out = output.rows(count);
        ops.matmul(x, gate, gateBias, g);
        ops.matmul(x, up, upBias, u);
        ops.siluMul(g, u, g);
        ops.matmul(g, down, downBias, out);
        return out;
    }

    @Override
    public void addTo(Tensor x, Tensor residual) {
        ops.add(residual, apply(x));
    }

    @Override
    public long weightBytes() {
        return bytes(gate) + bytes(gateBias) + bytes(up) + bytes(upBias) + bytes(down) + bytes(downBias);
    }

    static long bytes(Tensor t) {
        if (t == null) {
            return 0;
        }
        return t.byteSize() + (t.blockScales() == null ? 0 : t.blockScales().scales().byteSize());
    }
}

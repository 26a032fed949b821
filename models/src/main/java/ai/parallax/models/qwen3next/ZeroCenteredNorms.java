package ai.parallax.models.qwen3next;

import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

import java.util.ArrayList;
import java.util.List;

/**
 * Qwen3-Next's RMSNorm weights are zero-centred: the norm multiplies by {@code 1 + w}, not {@code w}. They are
 * turned once, at load time, into F32 tensors of {@code 1 + w}, so the ordinary {@link Ops#rmsNorm} computes them
 * exactly as the reference does (in float32, after upcasting w). This owns those tensors.
 */
final class ZeroCenteredNorms implements AutoCloseable {
    private final Ops ops;
    private final List<Tensor> owned = new ArrayList<>();

    ZeroCenteredNorms(Ops ops) {
        this.ops = ops;
    }

    /** An F32 tensor holding {@code 1 + weight}, element for element. */
    Tensor onePlus(Tensor weight) {
        float[] values = new float[(int) weight.elementCount()];
        for (int i = 0; i < values.length; i++) {
            values[i] = 1f + FloatFormats.readFloat(weight, i);
        }
        Tensor t = ops.allocate(weight.name() + "+1", values.length);
        ops.copyFromHost(values, 0, t);
        owned.add(t);
        return t;
    }

    @Override
    public void close() {
        owned.forEach(ops::free);
        owned.clear();
    }
}

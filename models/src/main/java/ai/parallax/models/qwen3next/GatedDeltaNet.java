package ai.parallax.models.qwen3next;

import ai.parallax.models.RecurrentStateSlots;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * The linear-attention token mixer of Qwen3-Next's {@code linear_attention} layers (Gated DeltaNet):
 *
 * <pre>
 * q,k,v,z ← in_proj_qkvz(x)   b,a ← in_proj_ba(x)          (both grouped per key head in the checkpoint)
 * q,k,v   ← silu(causal depthwise conv1d over the last K tokens of [q | k | v])
 * beta = sigmoid(b)   g = −exp(A_log) · softplus(a + dt_bias)
 * q,k repeated to the value heads, l2-normalised, q scaled by 1/√d_k
 * o = gated delta rule (chunked over a prompt, recurrent at decode), per value head
 * out_proj(RMSNorm(o) · weight · silu(z))
 * </pre>
 *
 * Each sequence's convolution window (the last K−1 inputs) and delta-rule state live in its slot of the cache's
 * {@link RecurrentStateSlots}, part {@link #CONV_STATE} and part {@link #DELTA_STATE}; a sequence whose batch entry
 * starts at position 0 starts from zeros. The projections run on the backend as one matrix product over the whole
 * batch; the convolution and the recurrence run on the host, sequence by sequence.
 *
 * <p>Exponentials use {@link StrictMath}: {@link Math#exp} may differ by an ulp between interpreted and compiled
 * code, and a model split into stages must reproduce the whole model bit for bit.
 */
final class GatedDeltaNet {
    static final int CONV_STATE = 0;
    static final int DELTA_STATE = 1;

    private final Ops ops;
    private final int keyHeads;
    private final int keyDim;
    private final int valueHeads;
    private final int valueDim;
    private final int headsPerKey;
    private final int kernel;
    private final int convDim;
    private final float eps;
    private final Tensor inProjQkvz;
    private final Tensor inProjBa;
    private final Tensor outProj;
    private final float[] convWeight;    // [convDim, kernel]
    private final float[] negExpALog;    // −exp(A_log) per value head
    private final float[] dtBias;
    private final float[] normWeight;    // [valueDim]
    private final ScratchBuffers.Slot qkvzRows;
    private final ScratchBuffers.Slot baRows;
    private final ScratchBuffers.Slot coreRows;
    private final GatedDeltaRule rule;
    // Host buffers, grown to the largest step seen.
    private float[] qkvz = new float[0];
    private float[] ba = new float[0];
    private float[] mixed = new float[0];     // conv input rows [T, convDim]: q-all | k-all | v-all
    private float[] convolved = new float[0];
    private float[] core = new float[0];      // [T, valueHeads·valueDim]
    private float[] headQuery = new float[0];
    private float[] headKey = new float[0];
    private float[] headValue = new float[0];
    private float[] headOut = new float[0];
    private float[] headDecay = new float[0];
    private float[] headBeta = new float[0];

    private GatedDeltaNet(Ops ops, ScratchBuffers scratch, Qwen3NextConfig c, float eps, Tensor inProjQkvz,
                          Tensor inProjBa, Tensor outProj, Tensor conv, Tensor aLog, Tensor dtBias, Tensor norm) {
        this.ops = ops;
        this.keyHeads = c.linearKeyHeads();
        this.keyDim = c.linearKeyDim();
        this.valueHeads = c.linearValueHeads();
        this.valueDim = c.linearValueDim();
        this.headsPerKey = valueHeads / keyHeads;
        this.kernel = c.convKernel();
        this.convDim = c.convDim();
        this.eps = eps;
        this.inProjQkvz = inProjQkvz;
        this.inProjBa = inProjBa;
        this.outProj = outProj;
        this.convWeight = host(conv);
        float[] aLogs = host(aLog);
        this.negExpALog = new float[valueHeads];
        for (int h = 0; h < valueHeads; h++) {
            negExpALog[h] = (float) -StrictMath.exp(aLogs[h]);
        }
        this.dtBias = host(dtBias);
        this.normWeight = host(norm);
        this.qkvzRows = scratch.slot("deltanet.qkvz", inProjQkvz.rowCount());
        this.baRows = scratch.slot("deltanet.ba", inProjBa.rowCount());
        this.coreRows = scratch.slot("deltanet.core", (long) valueHeads * valueDim);
        this.rule = new GatedDeltaRule(keyDim, valueDim);
    }

    /** Loads {@code model.layers.N.linear_attn.*} ({@code prefix} ends with the dot). */
    static GatedDeltaNet load(WeightLoader w, Ops ops, ScratchBuffers scratch, String prefix, Qwen3NextConfig c,
                              long hidden, float eps) {
        long qkvzWidth = 2L * c.linearKeyHeads() * c.linearKeyDim() + 2L * c.linearValueHeads() * c.linearValueDim();
        long valueWidth = (long) c.linearValueHeads() * c.linearValueDim();
        return new GatedDeltaNet(ops, scratch, c, eps,
                w.require(prefix + "in_proj_qkvz.weight", qkvzWidth, hidden),
                w.require(prefix + "in_proj_ba.weight", 2L * c.linearValueHeads(), hidden),
                w.require(prefix + "out_proj.weight", hidden, valueWidth),
                w.require(prefix + "conv1d.weight", c.convDim(), 1, c.convKernel()),
                w.require(prefix + "A_log", c.linearValueHeads()),
                w.require(prefix + "dt_bias", c.linearValueHeads()),
                w.require(prefix + "norm.weight", c.linearValueDim()));
    }

    /**
     * The mixer's output for the normed hidden states {@code x} ({@code [T, hidden]}) of the batch, into
     * {@code out} ({@code [T, hidden]}), reading and advancing each sequence's state in {@code states}.
     */
    void forward(Tensor x, BatchLayout batch, RecurrentStateSlots states, int layer, Tensor out) {
        int count = (int) x.rowCount();
        Tensor projected = qkvzRows.rows(count);
        Tensor gates = baRows.rows(count);
        ops.matmul(x, inProjQkvz, null, projected);
        ops.matmul(x, inProjBa, null, gates);
        int qkvzWidth = (int) inProjQkvz.rowCount();
        int valueWidth = valueHeads * valueDim;
        qkvz = grow(qkvz, count * qkvzWidth);
        ba = grow(ba, count * 2 * valueHeads);
        mixed = grow(mixed, count * convDim);
        convolved = grow(convolved, count * convDim);
        core = grow(core, count * valueWidth);
        ops.copyToHost(projected, qkvz, 0);
        ops.copyToHost(gates, ba, 0);
        ungroup(count, qkvzWidth);

        for (int s = 0; s < batch.sequenceCount(); s++) {
            int slot = batch.stateSlot(s);
            if (batch.startPosition(s) == 0) {
                states.reset(layer, slot);
            }
            int first = batch.tokenStart(s);
            int n = batch.tokenCount(s);
            convolve(first, n, states.part(layer, CONV_STATE), states.offset(CONV_STATE, slot));
            float[] deltaState = states.part(layer, DELTA_STATE);
            int stateOffset = states.offset(DELTA_STATE, slot);
            for (int h = 0; h < valueHeads; h++) {
                mixHead(first, n, h, deltaState, stateOffset + h * keyDim * valueDim, qkvzWidth);
            }
        }

        Tensor mixedOut = coreRows.rows(count);
        ops.copyFromHost(core, 0, mixedOut);
        ops.matmul(mixedOut, outProj, null, out);
    }

    /**
     * Reorders the checkpoint's per-key-head groups [q | k | v (r heads) | z (r heads)] into the convolution's
     * channel order [q all heads | k all heads | v all heads]; z stays in {@code qkvz}, read per value head later.
     */
    private void ungroup(int count, int qkvzWidth) {
        int group = 2 * keyDim + 2 * headsPerKey * valueDim;
        int vBase = 2 * keyHeads * keyDim;
        for (int t = 0; t < count; t++) {
            int src = t * qkvzWidth;
            int dst = t * convDim;
            for (int h = 0; h < keyHeads; h++) {
                int g = src + h * group;
                System.arraycopy(qkvz, g, mixed, dst + h * keyDim, keyDim);
                System.arraycopy(qkvz, g + keyDim, mixed, dst + keyHeads * keyDim + h * keyDim, keyDim);
                System.arraycopy(qkvz, g + 2 * keyDim, mixed, dst + vBase + h * headsPerKey * valueDim,
                        headsPerKey * valueDim);
            }
        }
    }

    /** Offset in a {@code qkvz} row of value head {@code h}'s z. */
    private int zOffset(int h) {
        int group = 2 * keyDim + 2 * headsPerKey * valueDim;
        return (h / headsPerKey) * group + 2 * keyDim + headsPerKey * valueDim + (h % headsPerKey) * valueDim;
    }

    /** Causal depthwise conv1d + silu over the sequence's rows, continuing from and then updating its window. */
    private void convolve(int first, int n, float[] window, int wo) {
        int past = kernel - 1;
        for (int t = 0; t < n; t++) {
            int row = (first + t) * convDim;
            for (int ch = 0; ch < convDim; ch++) {
                float sum = 0f;
                for (int j = 0; j < kernel; j++) {
                    int r = t - past + j;   // input row relative to the sequence's first new token
                    float in = r >= 0 ? mixed[(first + r) * convDim + ch] : window[wo + (past + r) * convDim + ch];
                    sum += convWeight[ch * kernel + j] * in;
                }
                convolved[row + ch] = silu(sum);
            }
        }
        // The window becomes the last K−1 inputs: older window rows first, then the new tokens.
        for (int i = 0; i < past; i++) {
            int r = n - past + i;
            int dst = wo + i * convDim;
            if (r >= 0) {
                System.arraycopy(mixed, (first + r) * convDim, window, dst, convDim);
            } else {
                System.arraycopy(window, wo + (past + r) * convDim, window, dst, convDim);
            }
        }
    }

    /** One value head of one sequence: gather, normalise, delta rule, gated norm into {@code core}. */
    private void mixHead(int first, int n, int h, float[] state, int so, int qkvzWidth) {
        headQuery = grow(headQuery, n * keyDim);
        headKey = grow(headKey, n * keyDim);
        headValue = grow(headValue, n * valueDim);
        headOut = grow(headOut, n * valueDim);
        headDecay = grow(headDecay, n);
        headBeta = grow(headBeta, n);
        int keyHead = h / headsPerKey;
        int qBase = keyHead * keyDim;
        int kBase = keyHeads * keyDim + keyHead * keyDim;
        int vBase = 2 * keyHeads * keyDim + h * valueDim;
        float scale = (float) (1.0 / Math.sqrt(keyDim));
        // in_proj_ba groups per key head too: [b (r heads) | a (r heads)].
        int bIndex = keyHead * 2 * headsPerKey + h % headsPerKey;
        int aIndex = bIndex + headsPerKey;
        for (int t = 0; t < n; t++) {
            int row = (first + t) * convDim;
            l2Normalize(convolved, row + qBase, headQuery, t * keyDim, scale);
            l2Normalize(convolved, row + kBase, headKey, t * keyDim, 1f);
            System.arraycopy(convolved, row + vBase, headValue, t * valueDim, valueDim);
            int br = (first + t) * 2 * valueHeads;
            headBeta[t] = sigmoid(ba[br + bIndex]);
            headDecay[t] = negExpALog[h] * softplus(ba[br + aIndex] + dtBias[h]);
        }
        if (n == 1) {
            rule.recurrent(n, headQuery, headKey, headValue, headDecay, headBeta, state, so, headOut);
        } else {
            rule.chunked(n, headQuery, headKey, headValue, headDecay, headBeta, state, so, headOut);
        }
        // Gated RMSNorm: its weight is used as is (not 1 + w), and z gates through silu.
        int valueWidth = valueHeads * valueDim;
        int z = zOffset(h);
        for (int t = 0; t < n; t++) {
            int o = t * valueDim;
            float sumSquares = 0f;
            for (int j = 0; j < valueDim; j++) {
                sumSquares += headOut[o + j] * headOut[o + j];
            }
            float inv = (float) (1.0 / Math.sqrt(sumSquares / valueDim + eps));
            int dst = (first + t) * valueWidth + h * valueDim;
            int zr = (first + t) * qkvzWidth + z;
            for (int j = 0; j < valueDim; j++) {
                core[dst + j] = headOut[o + j] * inv * normWeight[j] * silu(qkvz[zr + j]);
            }
        }
    }

    private void l2Normalize(float[] src, int so, float[] dst, int dOff, float scale) {
        float sumSquares = 0f;
        for (int i = 0; i < keyDim; i++) {
            sumSquares += src[so + i] * src[so + i];
        }
        float inv = (float) (scale / Math.sqrt(sumSquares + 1e-6));
        for (int i = 0; i < keyDim; i++) {
            dst[dOff + i] = src[so + i] * inv;
        }
    }

    private static float silu(float x) {
        return x / (1f + (float) StrictMath.exp(-x));
    }

    private static float sigmoid(float x) {
        return 1f / (1f + (float) StrictMath.exp(-x));
    }

    private static float softplus(float x) {
        // torch's softplus switches to the identity above 20, where log1p(exp(x)) equals x in float.
        return x > 20f ? x : (float) StrictMath.log1p(StrictMath.exp(x));
    }

    private static float[] grow(float[] a, int length) {
        return a.length >= length ? a : new float[Math.max(length, a.length * 2)];
    }

    private static float[] host(Tensor t) {
        float[] values = new float[(int) t.elementCount()];
        for (int i = 0; i < values.length; i++) {
            values[i] = FloatFormats.readFloat(t, i);
        }
        return values;
    }
}

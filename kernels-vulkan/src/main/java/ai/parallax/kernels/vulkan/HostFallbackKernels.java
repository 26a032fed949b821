package ai.parallax.kernels.vulkan;

import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Mxfp4;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;

/**
 * Scalar host implementations of the gpt-oss operations that have no Vulkan shader yet: {@link VulkanOps} copies the
 * activations to the host, runs these, and copies the result back. They are correct and slow (a device round trip
 * per call); shaders for them are future work. Weights (MXFP4 blocks and scales, biases, sinks) are read where they
 * already are: in the host mapping of the checkpoint.
 */
final class HostFallbackKernels {
    private HostFallbackKernels() {
    }

    /** out[t, n] = Σ_k x[t, k] · W[n, k] (+ bias[n]) for an MXFP4 W, element by element. */
    static void matmulMxfp4(float[] x, Tensor blocks, Tensor scales, Tensor bias, float[] out, int tokens, int n,
                            int k) {
        for (int row = 0; row < n; row++) {
            float add = bias == null ? 0f : FloatFormats.readFloat(bias, row);
            for (int t = 0; t < tokens; t++) {
                double sum = 0;
                for (int c = 0; c < k; c++) {
                    sum += (double) x[t * k + c] * Mxfp4.element(blocks, scales, row, c);
                }
                out[t * n + row] = (float) sum + add;
            }
        }
    }

    /** Windowed attention with sink logits over pools copied to the host. */
    static void attentionWithSinks(float[] q, float[] keys, float[] values, BatchLayout batch, int heads, int kvHeads,
                                   int headDim, float scale, int window, Tensor sinks, float[] out) {
        int group = heads / kvHeads;
        int kvWidth = kvHeads * headDim;
        int blockSize = batch.blockSize();
        double[] p = new double[0];
        for (int t = 0; t < batch.tokenCount(); t++) {
            int[] table = batch.blockTable(batch.sequenceOf(t));
            int position = batch.position(t);
            int first = window > 0 ? Math.max(0, position - window + 1) : 0;
            if (p.length < position - first + 1) {
                p = new double[position - first + 1];
            }
            for (int h = 0; h < heads; h++) {
                int kvOffset = (h / group) * headDim;
                double max = sinks == null ? Double.NEGATIVE_INFINITY : FloatFormats.readFloat(sinks, h);
                double sink = max;
                for (int pos = first; pos <= position; pos++) {
                    long row = (long) table[pos / blockSize] * blockSize + pos % blockSize;
                    double s = 0;
                    for (int d = 0; d < headDim; d++) {
                        s += (double) q[(t * heads + h) * headDim + d] * keys[(int) (row * kvWidth) + kvOffset + d];
                    }
                    p[pos - first] = s * scale;
                    max = Math.max(max, p[pos - first]);
                }
                double sum = Math.exp(sink - max);
                for (int i = 0; i <= position - first; i++) {
                    p[i] = Math.exp(p[i] - max);
                    sum += p[i];
                }
                for (int d = 0; d < headDim; d++) {
                    double acc = 0;
                    for (int pos = first; pos <= position; pos++) {
                        long row = (long) table[pos / blockSize] * blockSize + pos % blockSize;
                        acc += p[pos - first] * values[(int) (row * kvWidth) + kvOffset + d];
                    }
                    out[(t * heads + h) * headDim + d] = (float) (acc / sum);
                }
            }
        }
    }

    /** gpt-oss's clamped SwiGLU over interleaved gate/up columns. */
    static void clampedSwiGlu(float[] gateUp, float[] out, int rows, int width, float limit, float alpha) {
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < width; i++) {
                float gate = Math.min(gateUp[r * 2 * width + 2 * i], limit);
                float up = Math.clamp(gateUp[r * 2 * width + 2 * i + 1], -limit, limit);
                out[r * width + i] = (float) ((up + 1.0) * gate / (1 + Math.exp(-alpha * gate)));
            }
        }
    }
}

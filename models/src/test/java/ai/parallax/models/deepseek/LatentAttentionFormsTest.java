package ai.parallax.models.deepseek;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.RotaryTables;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import ai.parallax.tensors.safetensors.Checkpoint;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * The engine's absorbed latent attention, reading only the cached latents, gives what the naive form gives: every
 * cached position decompressed into full per-head keys {@code [W_UK c, rope(k_rope)]} and values {@code W_UV c},
 * with the rotary part rotated as interleaved pairs, exactly as the DeepSeek-V3 paper writes it. The naive form
 * here is an independent float64 implementation reading the checkpoint's weights; it runs over a prefill and then
 * over two decode steps, which read positions cached by earlier calls.
 */
class LatentAttentionFormsTest {
    private static Ops ops;

    @BeforeAll
    static void startBackend() {
        ops = new SimdOps(2);
    }

    @AfterAll
    static void stopBackend() {
        ops.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8"})
    void absorbedFormMatchesNaiveFormOverPrefillAndDecode(String name) {
        Path dir = Path.of(System.getProperty("parallax.models")).resolve(name);
        ModelConfig config = ModelConfig.read(dir);
        DeepSeekConfig ds = DeepSeekConfig.parse(config, name);
        int hidden = config.hiddenSize();
        int heads = config.numHeads();
        int layer = config.numLayers() - 1;
        String prefix = "model.layers." + layer + ".self_attn.";
        int prefill = 6;
        int total = prefill + 2;
        double[][] x = new double[total][hidden];
        Random random = new Random(7);
        for (double[] row : x) {
            for (int i = 0; i < hidden; i++) {
                row[i] = random.nextGaussian();
            }
        }

        float[] engine = new float[total * hidden];
        try (WeightLoader weights = new WeightLoader(Checkpoint.open(dir),
                Fp8Quantization.parse(config, name));
             ScratchBuffers scratch = new ScratchBuffers(ops);
             KvCache cache = KvCache.latent(ops, new LayerRange(layer, layer + 1, config.numLayers()), 1, total,
                     ds.latentWidth())) {
            MultiHeadLatentAttention attention = new MultiHeadLatentAttention(ops, weights, prefix, ds, heads,
                    hidden, (float) config.rmsNormEps());
            RotaryTables rotary = YarnScaling.tables(ops, ds.yarn(), ds.ropeHeadDim(), config.ropeTheta(), total);
            int[][] steps = {{0, prefill}, {prefill, 1}, {prefill + 1, 1}};
            for (int[] step : steps) {
                int start = step[0];
                int count = step[1];
                Tensor in = ops.allocate("x", count, hidden);
                Tensor residual = ops.allocate("residual", count, hidden);
                Tensor projected = ops.allocate("projected", count, hidden);
                float[] host = new float[count * hidden];
                for (int t = 0; t < count; t++) {
                    for (int i = 0; i < hidden; i++) {
                        host[t * hidden + i] = (float) x[start + t][i];
                    }
                }
                ops.copyFromHost(host, 0, in);
                attention.addTo(in, residual, projected, cache.singleSequence(start, count), cache.keys(layer),
                        rotary, new LatentAttentionStep(scratch, ds, heads, count));
                ops.copyToHost(residual, engine, start * hidden);
                ops.free(in);
                ops.free(residual);
                ops.free(projected);
            }
            attention.close();
            ops.free(rotary.cos());
            ops.free(rotary.sin());
        }

        double[][] naive = naiveAttention(dir, config, ds, prefix, x);
        for (int t = 0; t < total; t++) {
            for (int i = 0; i < hidden; i++) {
                assertThat((double) engine[t * hidden + i]).as("%s output %d at position %d", name, i, t)
                        .isCloseTo(naive[t][i], within(2e-4 * (1 + Math.abs(naive[t][i]))));
            }
        }
    }

    /** Full keys and values for every position, then ordinary causal multi-head attention, in double. */
    private static double[][] naiveAttention(Path dir, ModelConfig config, DeepSeekConfig ds, String prefix,
                                             double[][] x) {
        int heads = config.numHeads();
        int nope = ds.nopeHeadDim();
        int r = ds.ropeHeadDim();
        int qk = nope + r;
        int v = ds.valueHeadDim();
        int l = ds.kvLoraRank();
        int n = x.length;
        double eps = config.rmsNormEps();
        Fp8Quantization quantization = Fp8Quantization.parse(config, "test");
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            double[][] q = new double[n][];
            double[][] kNope = new double[n][];
            double[][] kRope = new double[n][];
            double[][] values = new double[n][];
            double[][] kvUp = matrix(checkpoint, quantization, prefix + "kv_b_proj.weight");
            for (int t = 0; t < n; t++) {
                if (ds.queryLoraRank() > 0) {
                    double[] qa = times(matrix(checkpoint, quantization, prefix + "q_a_proj.weight"), x[t]);
                    qa = rmsNorm(qa, vector(checkpoint, prefix + "q_a_layernorm.weight"), eps);
                    q[t] = times(matrix(checkpoint, quantization, prefix + "q_b_proj.weight"), qa);
                } else {
                    q[t] = times(matrix(checkpoint, quantization, prefix + "q_proj.weight"), x[t]);
                }
                double[] kv = times(matrix(checkpoint, quantization, prefix + "kv_a_proj_with_mqa.weight"), x[t]);
                double[] c = rmsNorm(java.util.Arrays.copyOf(kv, l),
                        vector(checkpoint, prefix + "kv_a_layernorm.weight"), eps);
                double[] up = times(kvUp, c); // per head: k_nope (nope), then v
                kNope[t] = new double[heads * nope];
                values[t] = new double[heads * v];
                for (int h = 0; h < heads; h++) {
                    System.arraycopy(up, h * (nope + v), kNope[t], h * nope, nope);
                    System.arraycopy(up, h * (nope + v) + nope, values[t], h * v, v);
                }
                kRope[t] = rotateInterleaved(java.util.Arrays.copyOfRange(kv, l, l + r), t, ds, config);
                for (int h = 0; h < heads; h++) {
                    double[] qr = rotateInterleaved(java.util.Arrays.copyOfRange(q[t], h * qk + nope, (h + 1) * qk),
                            t, ds, config);
                    System.arraycopy(qr, 0, q[t], h * qk + nope, r);
                }
            }
            double scale = ds.softmaxScale();
            double[][] out = new double[n][];
            double[][] oProj = matrix(checkpoint, quantization, prefix + "o_proj.weight");
            for (int t = 0; t < n; t++) {
                double[] attended = new double[heads * v];
                for (int h = 0; h < heads; h++) {
                    double[] scores = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int p = 0; p <= t; p++) {
                        double s = 0;
                        for (int i = 0; i < nope; i++) {
                            s += q[t][h * qk + i] * kNope[p][h * nope + i];
                        }
                        for (int i = 0; i < r; i++) {
                            s += q[t][h * qk + nope + i] * kRope[p][i];
                        }
                        scores[p] = s * scale;
                        max = Math.max(max, scores[p]);
                    }
                    double sum = 0;
                    for (int p = 0; p <= t; p++) {
                        scores[p] = Math.exp(scores[p] - max);
                        sum += scores[p];
                    }
                    for (int p = 0; p <= t; p++) {
                        for (int d = 0; d < v; d++) {
                            attended[h * v + d] += scores[p] / sum * values[p][h * v + d];
                        }
                    }
                }
                out[t] = times(oProj, attended);
            }
            return out;
        }
    }

    /** Rotary on interleaved pairs (x0,x1),(x2,x3)…: pair i turns by position · frequency i. */
    private static double[] rotateInterleaved(double[] x, int position, DeepSeekConfig ds, ModelConfig config) {
        int r = x.length;
        double[] inv = ds.yarn().inverseFrequencies(r, config.ropeTheta());
        double magnitude = ds.yarn().attentionFactor();
        double[] out = new double[r];
        for (int i = 0; i < r / 2; i++) {
            double cos = Math.cos(position * inv[i]) * magnitude;
            double sin = Math.sin(position * inv[i]) * magnitude;
            out[2 * i] = x[2 * i] * cos - x[2 * i + 1] * sin;
            out[2 * i + 1] = x[2 * i + 1] * cos + x[2 * i] * sin;
        }
        return out;
    }

    private static double[] rmsNorm(double[] x, double[] weight, double eps) {
        double squares = 0;
        for (double value : x) {
            squares += value * value;
        }
        double inv = 1 / Math.sqrt(squares / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * weight[i];
        }
        return out;
    }

    private static double[] times(double[][] w, double[] x) {
        double[] out = new double[w.length];
        for (int o = 0; o < w.length; o++) {
            double s = 0;
            for (int i = 0; i < x.length; i++) {
                s += w[o][i] * x[i];
            }
            out[o] = s;
        }
        return out;
    }

    private static double[] vector(Checkpoint checkpoint, String name) {
        Tensor t = checkpoint.tensor(name);
        double[] out = new double[(int) t.elementCount()];
        for (int i = 0; i < out.length; i++) {
            out[i] = FloatFormats.readFloat(t, i);
        }
        return out;
    }

    /** A weight in double, FP8 blocks dequantised with their scales as the checkpoint format defines. */
    private static double[][] matrix(Checkpoint checkpoint, Fp8Quantization quantization, String name) {
        Tensor t = checkpoint.tensor(name);
        int rows = (int) t.dim(0);
        int cols = (int) t.dim(1);
        Tensor scales = checkpoint.contains(name + "_scale_inv") ? checkpoint.tensor(name + "_scale_inv") : null;
        BlockScales blocks = scales == null ? null
                : new BlockScales(scales, quantization.blockRows(), quantization.blockCols());
        double[][] out = new double[rows][cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double value = FloatFormats.readFloat(t, (long) i * cols + j);
                out[i][j] = blocks == null ? value
                        : value * blocks.scale(i / blocks.blockRows(), j / blocks.blockCols());
            }
        }
        return out;
    }
}

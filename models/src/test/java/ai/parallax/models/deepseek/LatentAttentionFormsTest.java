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

import ai.parallax.tensors.DType;
import ai.parallax.tensors.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
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

    @TempDir
    Path temp;

    /** BF16 (absorbed matrices in BF16) and FP8 with partial 128-blocks (absorbed matrices dequantised to F32). */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-random-deepseek-v3", "tiny-random-deepseek-v3-fp8"})
    void absorbedFormMatchesNaiveFormOverPrefillAndDecode(String name) {
        assertAbsorbedMatchesNaive(Path.of(System.getProperty("parallax.models")).resolve(name), name);
    }

    /**
     * FP8 whose 16×16 blocks fall on whole heads and on the whole latent, as DeepSeek-V3's 128-blocks do: the
     * absorbed matrices stay FP8 (transposed block by block, with their scales) and still match the naive form.
     */
    @Test
    void blockAlignedFp8StaysFp8AndMatchesNaiveForm() throws IOException {
        writeBlockAlignedFp8Attention(temp);
        long absorbedBytes = assertAbsorbedMatchesNaive(temp, "block-aligned FP8");
        // Per head: codes of [L+R, nope+R] = [40, 24] and [v, L+R] = [16, 40], one byte each, plus F32 scales of
        // [3, 2] and [1, 3] blocks; F32 matrices would take 2 · 1600 · 4 = 12800 bytes.
        assertThat(absorbedBytes).isEqualTo(2 * (40 * 24 + 16 * 40 + (3 * 2 + 3) * 4));
    }

    /** Attention weights of one layer: 2 heads, hidden 48, nope 16, rope 8, v 16, latent 32; kv_b_proj FP8. */
    private static void writeBlockAlignedFp8Attention(Path dir) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = json.createObjectNode();
        config.put("model_type", "deepseek_v3").put("hidden_size", 48).put("intermediate_size", 64)
                .put("num_hidden_layers", 1).put("num_attention_heads", 2).put("vocab_size", 8)
                .put("kv_lora_rank", 32).put("qk_nope_head_dim", 16).put("qk_rope_head_dim", 8)
                .put("v_head_dim", 16).putNull("q_lora_rank").put("n_routed_experts", 4)
                .put("num_experts_per_tok", 2).put("moe_intermediate_size", 16).put("n_group", 1)
                .put("topk_group", 1).put("rope_theta", 10000.0).put("max_position_embeddings", 4096 * 8);
        config.putObject("rope_scaling").put("type", "yarn").put("factor", 8.0).put("mscale", 1.0)
                .put("mscale_all_dim", 0.5).put("original_max_position_embeddings", 4096);
        ObjectNode quantization = config.putObject("quantization_config");
        quantization.put("quant_method", "fp8").put("fmt", "e4m3").put("activation_scheme", "dynamic");
        quantization.putArray("weight_block_size").add(16).add(16);
        json.writeValue(dir.resolve("config.json").toFile(), config);

        Random random = new Random(99);
        String p = "model.layers.0.self_attn.";
        byte[] codes = new byte[64 * 32];
        for (int i = 0; i < codes.length; i++) {
            int code = random.nextInt(0x7F); // 0x7F and 0xFF are NaN
            codes[i] = (byte) (random.nextBoolean() ? code | 0x80 : code);
        }
        float[] scales = new float[4 * 2];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = 0.002f + random.nextFloat() / 100;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment kvUp = arena.allocate(codes.length);
            MemorySegment.copy(codes, 0, kvUp, ValueLayout.JAVA_BYTE, 0, codes.length);
            SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(
                    SafetensorsWriter.Entry.ofFloats(p + "q_proj.weight", DType.BF16, new long[] {48, 48},
                            gaussians(random, 48 * 48, 0.15)),
                    SafetensorsWriter.Entry.ofFloats(p + "kv_a_proj_with_mqa.weight", DType.BF16,
                            new long[] {40, 48}, gaussians(random, 40 * 48, 0.15)),
                    SafetensorsWriter.Entry.ofFloats(p + "kv_a_layernorm.weight", DType.BF16, new long[] {32},
                            gaussians(random, 32, 1.0)),
                    SafetensorsWriter.Entry.of(new Tensor(p + "kv_b_proj.weight", DType.F8_E4M3,
                            new long[] {64, 32}, kvUp)),
                    SafetensorsWriter.Entry.ofFloats(p + "kv_b_proj.weight_scale_inv", DType.F32,
                            new long[] {4, 2}, scales),
                    SafetensorsWriter.Entry.ofFloats(p + "o_proj.weight", DType.BF16, new long[] {48, 32},
                            gaussians(random, 48 * 32, 0.15))));
        }
    }

    private static float[] gaussians(Random random, int count, double sigma) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) (random.nextGaussian() * sigma);
        }
        return values;
    }

    /** Runs the engine's attention and the naive one over the same inputs; returns the absorbed matrices' bytes. */
    private static long assertAbsorbedMatchesNaive(Path dir, String name) {
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
        long absorbedBytes;
        try (WeightLoader weights = new WeightLoader(Checkpoint.open(dir),
                Fp8Quantization.parse(config, name));
             ScratchBuffers scratch = new ScratchBuffers(ops);
             KvCache cache = KvCache.latent(ops, new LayerRange(layer, layer + 1, config.numLayers()), 1, total,
                     ds.latentWidth())) {
            MultiHeadLatentAttention attention = new MultiHeadLatentAttention(ops, weights, prefix, ds, heads,
                    hidden, (float) config.rmsNormEps());
            absorbedBytes = attention.absorbedBytes();
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
        return absorbedBytes;
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

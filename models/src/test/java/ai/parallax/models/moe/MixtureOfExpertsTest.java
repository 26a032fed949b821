package ai.parallax.models.moe;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import ai.parallax.tensors.safetensors.Checkpoint;
import ai.parallax.tensors.safetensors.SafetensorsWriter;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/**
 * Qwen2-MoE, for which no reference data exists, on a small random checkpoint written here: its sparse layer
 * against a plain scalar re-implementation of the Hugging Face module (softmax router, top-k without
 * renormalisation, SiLU-gated experts, shared expert scaled by a sigmoid gate), and the layer choice of
 * {@code decoder_sparse_step} and {@code mlp_only_layers}.
 */
class MixtureOfExpertsTest {
    private static final int HIDDEN = 24;
    private static final int EXPERTS = 6;
    private static final int TOP_K = 2;
    private static final int EXPERT_INTER = 20;
    private static final int SHARED_INTER = 28;
    private static final int DENSE_INTER = 40;
    private static final int LAYERS = 4;
    private static final int HEADS = 2;
    private static final int HEAD_DIM = 12;
    private static final int VOCAB = 50;

    private static Ops ops;

    @TempDir
    static Path dir;
    private static final Map<String, float[]> weights = new HashMap<>();

    @BeforeAll
    static void writeCheckpoint() throws IOException {
        ops = new SimdOps(2);
        ObjectNode config = new ObjectMapper().createObjectNode();
        config.put("model_type", "qwen2_moe").put("hidden_size", HIDDEN).put("intermediate_size", DENSE_INTER)
                .put("moe_intermediate_size", EXPERT_INTER).put("shared_expert_intermediate_size", SHARED_INTER)
                .put("num_experts", EXPERTS).put("num_experts_per_tok", TOP_K).put("norm_topk_prob", false)
                .put("decoder_sparse_step", 2).put("num_hidden_layers", LAYERS)
                .put("num_attention_heads", HEADS).put("num_key_value_heads", 1).put("head_dim", HEAD_DIM)
                .put("vocab_size", VOCAB).put("rms_norm_eps", 1e-6).put("rope_theta", 10000.0)
                .put("max_position_embeddings", 128).put("tie_word_embeddings", false).put("hidden_act", "silu");
        // Layer 3 would be sparse by the step ((3 + 1) % 2 == 0) but mlp_only_layers keeps it dense.
        config.putArray("mlp_only_layers").add(3);
        new ObjectMapper().writeValue(dir.resolve("config.json").toFile(), config);

        Random random = new Random(42);
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        add(entries, random, "model.embed_tokens.weight", VOCAB, HIDDEN);
        add(entries, random, "lm_head.weight", VOCAB, HIDDEN);
        add(entries, random, "model.norm.weight", HIDDEN);
        int qWidth = HEADS * HEAD_DIM;
        for (int layer = 0; layer < LAYERS; layer++) {
            String p = "model.layers." + layer + ".";
            add(entries, random, p + "input_layernorm.weight", HIDDEN);
            add(entries, random, p + "post_attention_layernorm.weight", HIDDEN);
            add(entries, random, p + "self_attn.q_proj.weight", qWidth, HIDDEN);
            add(entries, random, p + "self_attn.q_proj.bias", qWidth);
            add(entries, random, p + "self_attn.k_proj.weight", HEAD_DIM, HIDDEN);
            add(entries, random, p + "self_attn.k_proj.bias", HEAD_DIM);
            add(entries, random, p + "self_attn.v_proj.weight", HEAD_DIM, HIDDEN);
            add(entries, random, p + "self_attn.v_proj.bias", HEAD_DIM);
            add(entries, random, p + "self_attn.o_proj.weight", HIDDEN, qWidth);
            if (layer == 1) {
                add(entries, random, p + "mlp.gate.weight", EXPERTS, HIDDEN);
                for (int e = 0; e < EXPERTS; e++) {
                    mlp(entries, random, p + "mlp.experts." + e + ".", EXPERT_INTER);
                }
                mlp(entries, random, p + "mlp.shared_expert.", SHARED_INTER);
                add(entries, random, p + "mlp.shared_expert_gate.weight", 1, HIDDEN);
            } else {
                mlp(entries, random, p + "mlp.", DENSE_INTER);
            }
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), entries);
    }

    @AfterAll
    static void stop() {
        ops.close();
    }

    private static void mlp(List<SafetensorsWriter.Entry> entries, Random random, String p, int inter) {
        add(entries, random, p + "gate_proj.weight", inter, HIDDEN);
        add(entries, random, p + "up_proj.weight", inter, HIDDEN);
        add(entries, random, p + "down_proj.weight", HIDDEN, inter);
    }

    private static void add(List<SafetensorsWriter.Entry> entries, Random random, String name, long... shape) {
        float[] values = new float[(int) Tensor.elementCount(shape)];
        double scale = 1 / Math.sqrt(shape[shape.length - 1]);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (random.nextGaussian() * (shape.length == 1 ? 0.1 : scale) + (shape.length == 1 ? 1 : 0));
        }
        weights.put(name, values);
        entries.add(SafetensorsWriter.Entry.ofFloats(name, DType.F32, shape, values));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 16})
    void sparseLayerMatchesScalarQwen2MoeBlock(int tokens) {
        ModelConfig config = ModelConfig.read(dir);
        MoeConfig moe = MoeConfig.parse(config, "test");
        Random random = new Random(tokens);
        float[] x = new float[tokens * HIDDEN];
        float[] residual = new float[tokens * HIDDEN];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
            residual[i] = (float) random.nextGaussian();
        }
        float[] actual = new float[x.length];
        try (WeightLoader loader = new WeightLoader(Checkpoint.open(dir));
             ScratchBuffers scratch = new ScratchBuffers(ops)) {
            MixtureOfExperts layer = MixtureOfExperts.load(loader, ops, scratch, "model.layers.1.mlp.", moe, HIDDEN);
            Tensor xt = ops.allocate("x", tokens, HIDDEN);
            Tensor rt = ops.allocate("residual", tokens, HIDDEN);
            ops.copyFromHost(x, 0, xt);
            ops.copyFromHost(residual, 0, rt);
            layer.addTo(xt, rt);
            ops.copyToHost(rt, actual, 0);
            assertThat(layer.weightBytes()).isEqualTo(4L * (EXPERTS * HIDDEN
                    + EXPERTS * 3L * EXPERT_INTER * HIDDEN + 3L * SHARED_INTER * HIDDEN + HIDDEN));
            // Each expert is read at most once for the whole batch, however many tokens chose it.
            assertThat(layer.expertBytesRead()).isLessThanOrEqualTo(Math.min(EXPERTS, (long) tokens * TOP_K)
                    * layer.bytesPerExpert());
        }
        for (int t = 0; t < tokens; t++) {
            double[] expected = scalarQwen2MoeBlock(x, t);
            for (int i = 0; i < HIDDEN; i++) {
                assertThat((double) actual[t * HIDDEN + i]).as("token %d element %d", t, i)
                        .isCloseTo(residual[t * HIDDEN + i] + expected[i], within(1e-4));
            }
        }
    }

    /** Qwen2MoeSparseMoeBlock.forward for one token, in double, straight from the definitions. */
    private static double[] scalarQwen2MoeBlock(float[] x, int t) {
        String p = "model.layers.1.mlp.";
        double[] logits = linear(weights.get(p + "gate.weight"), x, t, EXPERTS);
        double max = Double.NEGATIVE_INFINITY;
        for (double l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        double[] probs = new double[EXPERTS];
        for (int e = 0; e < EXPERTS; e++) {
            probs[e] = Math.exp(logits[e] - max);
            sum += probs[e];
        }
        boolean[] taken = new boolean[EXPERTS];
        double[] out = new double[HIDDEN];
        for (int j = 0; j < TOP_K; j++) {
            int best = -1;
            for (int e = 0; e < EXPERTS; e++) {
                if (!taken[e] && (best < 0 || probs[e] > probs[best])) {
                    best = e;
                }
            }
            taken[best] = true;
            double weight = probs[best] / sum; // norm_topk_prob is false: no renormalisation
            double[] y = expert(p + "experts." + best + ".", x, t, EXPERT_INTER);
            for (int i = 0; i < HIDDEN; i++) {
                out[i] += weight * y[i];
            }
        }
        double gate = linear(weights.get(p + "shared_expert_gate.weight"), x, t, 1)[0];
        double sigmoid = 1 / (1 + Math.exp(-gate));
        double[] shared = expert(p + "shared_expert.", x, t, SHARED_INTER);
        for (int i = 0; i < HIDDEN; i++) {
            out[i] += sigmoid * shared[i];
        }
        return out;
    }

    private static double[] expert(String p, float[] x, int t, int inter) {
        double[] g = linear(weights.get(p + "gate_proj.weight"), x, t, inter);
        double[] u = linear(weights.get(p + "up_proj.weight"), x, t, inter);
        float[] h = new float[inter];
        for (int i = 0; i < inter; i++) {
            h[i] = (float) (g[i] / (1 + Math.exp(-g[i])) * u[i]);
        }
        return linear(weights.get(p + "down_proj.weight"), h, 0, HIDDEN);
    }

    private static double[] linear(float[] w, float[] x, int row, int outFeatures) {
        int in = w.length / outFeatures;
        double[] y = new double[outFeatures];
        for (int o = 0; o < outFeatures; o++) {
            for (int i = 0; i < in; i++) {
                y[o] += (double) w[o * in + i] * x[row * in + i];
            }
        }
        return y;
    }

    @Test
    void sparseStepAndMlpOnlyLayersChooseWhichLayersRouteToExperts() {
        MoeConfig moe = MoeConfig.parse(ModelConfig.read(dir), "test");
        assertThat(moe.isSparse(0)).isFalse();
        assertThat(moe.isSparse(1)).isTrue();
        assertThat(moe.isSparse(2)).isFalse();
        assertThat(moe.isSparse(3)).as("listed in mlp_only_layers").isFalse();
        // The checkpoint has expert tensors in layer 1 only, so the model loads only if it chose the same layers;
        // every tensor is then held exactly once.
        try (CausalLanguageModel model = ModelLoader.load(dir, ops, 32);
             Checkpoint checkpoint = Checkpoint.open(dir);
             KvCache cache = model.newKvCache(8)) {
            assertThat(model.weightBytes()).isEqualTo(checkpoint.byteSize(checkpoint.tensorNames()));
            Tensor logits = model.forward(new int[] {3, 14, 15, 9, 2}, 5, 0, cache, true);
            float[] host = new float[5 * VOCAB];
            ops.copyToHost(logits, host, 0);
            for (float v : host) {
                assertThat(v).isFinite();
            }
        }
    }
}

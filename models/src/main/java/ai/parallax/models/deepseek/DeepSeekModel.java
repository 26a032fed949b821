package ai.parallax.models.deepseek;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.DenseFeedForward;
import ai.parallax.models.FeedForward;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelException;
import ai.parallax.models.RotaryTables;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.config.Fp8Quantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * The forward pass of DeepSeek-V3 and Kimi-K2 ({@code model_type: deepseek_v3}), read top to bottom:
 *
 * <pre>
 * embed → for each layer: norm → multi-head latent attention (cache: the compressed latent) → residual
 *                          → norm → dense MLP (first_k_dense_replace layers) or routed + shared experts → residual
 *       → norm → lm_head
 * </pre>
 *
 * Attention is {@link MultiHeadLatentAttention} in its absorbed form; routing is {@link GroupLimitedSelection}.
 * One instance holds the layers of one pipeline stage ({@link LayerRange}) and touches no tensor of any other layer.
 * The KV cache keeps {@code kv_lora_rank + qk_rope_head_dim} floats per position and layer
 * ({@link KvCache#latent}); for DeepSeek-V3 that is 576 instead of 128 heads × (192 + 128) = 40,960.
 */
public final class DeepSeekModel implements CausalLanguageModel {
    private final ModelConfig config;
    private final DeepSeekConfig ds;
    private final LayerRange layers;
    private final Ops ops;
    private final WeightLoader weights;
    private final ScratchBuffers scratch;
    private final Tensor embedding;      // first stage only
    private final Layer[] layerWeights;
    private final Tensor finalNorm;      // last stage only
    private final Tensor lmHead;         // last stage only (the embedding when tied)
    private final RotaryTables rotary;
    private final long weightBytes;
    private final float eps;
    private Step step;

    /** The model_type values of this architecture: DeepSeek-V3's own, and Kimi-K2's. */
    public static final java.util.Set<String> MODEL_TYPES = java.util.Set.of("deepseek_v3", "kimi_k2");

    /** One decoder layer's weights. */
    private record Layer(Tensor inputNorm, MultiHeadLatentAttention attention, Tensor postAttentionNorm,
                         FeedForward feedForward) {
    }

    /** The buffers of a step of {@code count} tokens: rebuilt only when the count changes. */
    private record Step(int count, Tensor hidden, Tensor normed, Tensor projected, LatentAttentionStep attention,
                        int[] tokens) {
    }

    private DeepSeekModel(ModelConfig config, DeepSeekConfig ds, LayerRange layers, Ops ops, WeightLoader weights,
                          int maxPositions) {
        this.config = config;
        this.ds = ds;
        this.layers = layers;
        this.ops = ops;
        this.weights = weights;
        this.scratch = new ScratchBuffers(ops);
        this.eps = (float) config.rmsNormEps();
        long hidden = config.hiddenSize();
        long vocab = config.vocabSize();
        boolean needEmbedding = layers.isFirst() || (layers.isLast() && config.tieWordEmbeddings());
        Tensor embed = weights.requireIf(needEmbedding, "model.embed_tokens.weight", vocab, hidden);
        this.embedding = layers.isFirst() ? embed : null;
        this.layerWeights = new Layer[layers.count()];
        long absorbed = 0;
        try {
            for (int layer = layers.start(); layer < layers.end(); layer++) {
                Layer l = loadLayer(layer);
                layerWeights[layer - layers.start()] = l;
                absorbed += l.attention().absorbedBytes();
            }
        } catch (RuntimeException e) {
            closeAttention();
            scratch.close();
            throw e;
        }
        this.finalNorm = weights.requireIf(layers.isLast(), "model.norm.weight", hidden);
        if (!layers.isLast()) {
            this.lmHead = null;
        } else if (config.tieWordEmbeddings()) {
            this.lmHead = embed;
        } else {
            this.lmHead = weights.require("lm_head.weight", vocab, hidden);
        }
        this.weightBytes = weights.bytesLoaded() + absorbed;
        this.rotary = YarnScaling.tables(ops, ds.yarn(), ds.ropeHeadDim(), config.ropeTheta(), maxPositions);
    }

    /**
     * Loads the layers {@code layers} of a DeepSeek-V3 / Kimi-K2 checkpoint.
     *
     * @param maxPositions the longest sequence the rotary tables will cover
     * @throws ModelException naming the field for any config value this engine does not implement
     */
    public static DeepSeekModel load(ModelConfig config, WeightLoader weights, LayerRange layers, Ops ops,
                                     int maxPositions) {
        DeepSeekConfig ds = DeepSeekConfig.parse(config, config.modelType() + " config");
        if (layers.total() != config.numLayers()) {
            throw new ModelException("layer range " + layers + " does not match num_hidden_layers "
                    + config.numLayers());
        }
        return new DeepSeekModel(config, ds, layers, ops, weights, maxPositions);
    }

    /**
     * Memory a layer needs besides its checkpoint tensors: the absorbed attention matrices built at load time from
     * a {@code kv_b_proj} of {@code kvUpDtype}. The scheduler's per-layer estimate adds it to the tensors' bytes.
     */
    public static long extraBytesPerLayer(ModelConfig config, DType kvUpDtype) {
        DeepSeekConfig ds = DeepSeekConfig.parse(config, config.modelType() + " config");
        return AbsorbedProjections.bytesPerLayer(ds, config.numHeads(), kvUpDtype,
                Fp8Quantization.parse(config, config.modelType() + " config"));
    }

    /** Bytes of KV cache one position needs in one layer: the latent and the rotary key, in F32. */
    public static long kvBytesPerPositionAndLayer(ModelConfig config) {
        DeepSeekConfig ds = DeepSeekConfig.parse(config, config.modelType() + " config");
        return (long) ds.latentWidth() * Float.BYTES;
    }

    private Layer loadLayer(int layer) {
        String p = "model.layers." + layer + ".";
        long hidden = config.hiddenSize();
        FeedForward feedForward = ds.isSparse(layer)
                ? DeepSeekMixtureOfExperts.load(weights, ops, scratch, p + "mlp.", ds, hidden)
                : DenseFeedForward.load(weights, ops, scratch, p + "mlp.", hidden, config.intermediateSize(), false);
        return new Layer(
                weights.require(p + "input_layernorm.weight", hidden),
                new MultiHeadLatentAttention(ops, weights, p + "self_attn.", ds, config.numHeads(), hidden, eps),
                weights.require(p + "post_attention_layernorm.weight", hidden),
                feedForward);
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public LayerRange layers() {
        return layers;
    }

    @Override
    public long weightBytes() {
        return weightBytes;
    }

    @Override
    public int maxPositions() {
        return rotary.maxPositions();
    }

    @Override
    public KvCache newKvCache(int capacity) {
        if (capacity > rotary.maxPositions()) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " exceeds the " + rotary.maxPositions()
                    + " positions this model was loaded for");
        }
        return KvCache.latent(ops, layers, 1, capacity, ds.latentWidth());
    }

    @Override
    public KvCache newPagedKvCache(int blockCount, int blockSize) {
        return KvCache.latent(ops, layers, blockCount, blockSize, ds.latentWidth());
    }

    @Override
    public Tensor embed(int[] tokens, int count) {
        if (!layers.isFirst()) {
            throw new IllegalStateException("embed() runs on the first stage; this stage holds layers " + layers);
        }
        if (count > tokens.length) {
            throw new IllegalArgumentException(count + " tokens requested from an array of " + tokens.length);
        }
        for (int t = 0; t < count; t++) {
            if (tokens[t] < 0 || tokens[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[t] + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        Step s = step(count);
        int[] ids = tokens;
        if (tokens.length != count) {
            ids = s.tokens();
            System.arraycopy(tokens, 0, ids, 0, count);
        }
        ops.embedding(embedding, ids, s.hidden());
        return s.hidden();
    }

    @Override
    public Tensor hiddenInput(int count) {
        return step(count).hidden();
    }

    @Override
    public Tensor forwardLayers(Tensor hidden, BatchLayout batch, KvCache cache) {
        int count = (int) hidden.rowCount();
        if (count != batch.tokenCount()) {
            throw new IllegalArgumentException("hidden states have " + count + " rows but the batch has "
                    + batch.tokenCount() + " tokens");
        }
        if (batch.blockSize() != cache.blockSize()) {
            throw new IllegalArgumentException("the batch uses KV blocks of " + batch.blockSize()
                    + " positions but the cache has blocks of " + cache.blockSize());
        }
        Step s = step(count);
        for (int i = 0; i < layerWeights.length; i++) {
            int layer = layers.start() + i;
            Layer w = layerWeights[i];

            // Attention block: latent attention over this layer's latent pool.
            ops.rmsNorm(hidden, w.inputNorm(), eps, s.normed());
            w.attention().addTo(s.normed(), hidden, s.projected(), batch, cache.keys(layer), rotary, s.attention());

            // Feed-forward block: a dense MLP in the first layers, routed and shared experts after them.
            ops.rmsNorm(hidden, w.postAttentionNorm(), eps, s.normed());
            w.feedForward().addTo(s.normed(), hidden);
        }
        return hidden;
    }

    @Override
    public Tensor logits(Tensor hidden, boolean allPositions) {
        requireLastStage();
        int count = (int) hidden.rowCount();
        Tensor rows = allPositions ? hidden : hidden.rows(count - 1, 1);
        ops.rmsNorm(rows, finalNorm, eps, rows);
        Tensor logits = scratch.slot("deepseek.logits", config.vocabSize()).rows((int) rows.rowCount());
        ops.matmul(rows, lmHead, null, logits);
        return logits;
    }

    @Override
    public Tensor logits(Tensor hidden, int[] rows) {
        requireLastStage();
        if (rows.length == 0 || rows.length > hidden.rowCount()) {
            throw new IllegalArgumentException("logits of " + rows.length + " rows requested from " + hidden.rowCount());
        }
        Tensor selected = scratch.slot("deepseek.selected", config.hiddenSize()).rows(rows.length);
        ops.gatherRows(hidden, rows, selected);
        ops.rmsNorm(selected, finalNorm, eps, selected);
        Tensor logits = scratch.slot("deepseek.logits", config.vocabSize()).rows(rows.length);
        ops.matmul(selected, lmHead, null, logits);
        return logits;
    }

    private void requireLastStage() {
        if (!layers.isLast()) {
            throw new IllegalStateException("logits() runs on the last stage; this stage holds layers " + layers);
        }
    }

    private Step step(int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("a step needs at least one token, got " + count);
        }
        if (step == null || step.count() != count) {
            long hidden = config.hiddenSize();
            step = new Step(count,
                    scratch.slot("deepseek.hidden", hidden).rows(count),
                    scratch.slot("deepseek.normed", hidden).rows(count),
                    scratch.slot("deepseek.projected", hidden).rows(count),
                    new LatentAttentionStep(scratch, ds, config.numHeads(), count), new int[count]);
        }
        return step;
    }

    private void closeAttention() {
        for (Layer l : layerWeights) {
            if (l != null) {
                l.attention().close();
            }
        }
    }

    @Override
    public void close() {
        closeAttention();
        scratch.close();
        ops.free(rotary.cos());
        ops.free(rotary.sin());
        weights.close();
    }
}

package ai.parallax.models.llama;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.DenseFeedForward;
import ai.parallax.models.FeedForward;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelException;
import ai.parallax.models.RotaryTables;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.moe.MixtureOfExperts;
import ai.parallax.models.moe.MoeConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * The forward pass of Llama and its close descendants, Qwen2 and Qwen3, read top to bottom:
 *
 * <pre>
 * embed → for each layer: norm → q,k,v (+bias) → (q/k norm) → rope → attention → o → residual
 *                          → norm → feed-forward (gate,up → silu·mul → down, or a mixture of experts) → residual
 *       → norm → lm_head
 * </pre>
 *
 * The differences between them are the flags of {@link LlamaVariant}; the MoE models (Qwen2-MoE, Qwen3-MoE) differ
 * only in the feed-forward step of their sparse layers ({@link MixtureOfExperts}). One instance holds the layers of one
 * pipeline stage ({@link LayerRange}); it touches no tensor of any other layer.
 */
public final class LlamaModel implements CausalLanguageModel {
    private final ModelConfig config;
    private final LlamaVariant variant;
    private final LayerRange layers;
    private final Ops ops;
    private final WeightLoader weights;
    private final MoeConfig moe;          // null for dense models
    private final ScratchBuffers scratch; // the feed-forward steps' activations
    private final Tensor embedding;      // first stage only
    private final LlamaLayerWeights[] layerWeights;
    private final Tensor finalNorm;      // last stage only
    private final Tensor lmHead;         // last stage only (the embedding when tied)
    private final RotaryTables rotary;
    private final long weightBytes;
    private final float attentionScale;
    private final float eps;
    private Workspace workspace;

    private LlamaModel(ModelConfig config, LlamaVariant variant, LayerRange layers, Ops ops, WeightLoader weights,
                       int maxPositions) {
        this.config = config;
        this.variant = variant;
        this.layers = layers;
        this.ops = ops;
        this.weights = weights;
        this.moe = variant.mixtureOfExperts() ? MoeConfig.parse(config, config.modelType() + " config") : null;
        this.scratch = new ScratchBuffers(ops);
        long hidden = config.hiddenSize();
        long vocab = config.vocabSize();
        boolean needEmbedding = layers.isFirst() || (layers.isLast() && config.tieWordEmbeddings());
        Tensor embed = weights.requireIf(needEmbedding, "model.embed_tokens.weight", vocab, hidden);
        this.embedding = layers.isFirst() ? embed : null;
        this.layerWeights = new LlamaLayerWeights[layers.count()];
        for (int layer = layers.start(); layer < layers.end(); layer++) {
            layerWeights[layer - layers.start()] = loadLayer(weights, layer);
        }
        this.finalNorm = weights.requireIf(layers.isLast(), "model.norm.weight", hidden);
        if (!layers.isLast()) {
            this.lmHead = null;
        } else if (config.tieWordEmbeddings()) {
            this.lmHead = weights.linear(embed, "lm_head.weight");
        } else {
            this.lmHead = weights.require("lm_head.weight", vocab, hidden);
        }
        this.weightBytes = weights.bytesLoaded();
        this.rotary = RotaryTables.build(ops, config.headDim(), config.ropeTheta(), config.ropeScaling(),
                maxPositions);
        this.attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
        this.eps = (float) config.rmsNormEps();
    }

    /**
     * Loads the layers {@code layers} of a Llama-family model.
     *
     * @param maxPositions the longest sequence the rotary tables will cover
     */
    public static LlamaModel load(ModelConfig config, LlamaVariant variant, WeightLoader weights, LayerRange layers,
                                  Ops ops, int maxPositions) {
        if (!"silu".equals(config.hiddenAct())) {
            throw new ModelException(config.modelType() + ": hidden_act \"" + config.hiddenAct()
                    + "\" is not supported (supported: silu)");
        }
        if (layers.total() != config.numLayers()) {
            throw new ModelException("layer range " + layers + " does not match num_hidden_layers "
                    + config.numLayers());
        }
        return new LlamaModel(config, variant, layers, ops, weights, maxPositions);
    }

    private LlamaLayerWeights loadLayer(WeightLoader w, int layer) {
        String p = "model.layers." + layer + ".";
        long hidden = config.hiddenSize();
        long qWidth = config.queryWidth();
        long kvWidth = config.keyValueWidth();
        long headDim = config.headDim();
        boolean qkvBias = variant.queryKeyValueBias();
        return new LlamaLayerWeights(
                w.require(p + "input_layernorm.weight", hidden),
                w.require(p + "self_attn.q_proj.weight", qWidth, hidden),
                w.requireIf(qkvBias, p + "self_attn.q_proj.bias", qWidth),
                w.require(p + "self_attn.k_proj.weight", kvWidth, hidden),
                w.requireIf(qkvBias, p + "self_attn.k_proj.bias", kvWidth),
                w.require(p + "self_attn.v_proj.weight", kvWidth, hidden),
                w.requireIf(qkvBias, p + "self_attn.v_proj.bias", kvWidth),
                w.requireIf(variant.queryKeyNorm(), p + "self_attn.q_norm.weight", headDim),
                w.requireIf(variant.queryKeyNorm(), p + "self_attn.k_norm.weight", headDim),
                w.require(p + "self_attn.o_proj.weight", hidden, qWidth),
                w.requireIf(variant.outputBias(), p + "self_attn.o_proj.bias", hidden),
                w.require(p + "post_attention_layernorm.weight", hidden),
                loadFeedForward(w, layer));
    }

    /** A mixture of experts in the sparse layers of an MoE model, else the dense gated MLP. */
    private FeedForward loadFeedForward(WeightLoader w, int layer) {
        String p = "model.layers." + layer + ".mlp.";
        if (moe != null && moe.isSparse(layer)) {
            return MixtureOfExperts.load(w, ops, scratch, p, moe, config.hiddenSize());
        }
        return DenseFeedForward.load(w, ops, scratch, p, config.hiddenSize(), config.intermediateSize(),
                variant.mlpBias());
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
        return new KvCache(ops, layers, capacity, config.keyValueWidth());
    }

    @Override
    public KvCache newPagedKvCache(int blockCount, int blockSize) {
        return new KvCache(ops, layers, blockCount, blockSize, config.keyValueWidth());
    }

    @Override
    public Tensor embed(int[] tokens, int count) {
        if (!layers.isFirst()) {
            throw new IllegalStateException("embed() runs on the first stage; this stage holds layers " + layers);
        }
        Workspace.View v = workspace(count);
        for (int t = 0; t < count; t++) {
            if (tokens[t] < 0 || tokens[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[t] + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        ops.embedding(embedding, tokens.length == count ? tokens : v.tokens(tokens), v.hidden);
        return v.hidden;
    }

    @Override
    public Tensor hiddenInput(int count) {
        return workspace(count).hidden;
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
        Workspace.View v = workspace(count);
        int[] positions = batch.positions();
        int[] slots = batch.slots();
        for (int i = 0; i < layerWeights.length; i++) {
            int layer = layers.start() + i;
            LlamaLayerWeights w = layerWeights[i];

            // Attention block: every sequence's tokens go through the projections together; only the attention
            // itself looks at the batch layout, each query reading its own sequence's KV blocks.
            ops.rmsNorm(hidden, w.inputNorm(), eps, v.normed);
            ops.matmul(v.normed, w.queryProj(), w.queryBias(), v.query);
            ops.matmul(v.normed, w.keyProj(), w.keyBias(), v.key);
            ops.matmul(v.normed, w.valueProj(), w.valueBias(), v.value);
            if (variant.queryKeyNorm()) {
                ops.rmsNorm(v.query, w.queryNorm(), eps, v.query);
                ops.rmsNorm(v.key, w.keyNorm(), eps, v.key);
            }
            ops.rope(v.query, config.numHeads(), config.headDim(), positions, rotary.cos(), rotary.sin());
            ops.rope(v.key, config.numKeyValueHeads(), config.headDim(), positions, rotary.cos(), rotary.sin());
            ops.scatterRows(v.key, cache.keys(layer), slots);
            ops.scatterRows(v.value, cache.values(layer), slots);
            ops.pagedAttention(v.query, cache.keys(layer), cache.values(layer), batch, config.numHeads(),
                    config.numKeyValueHeads(), config.headDim(), attentionScale, v.attention);
            ops.matmul(v.attention, w.outputProj(), w.outputBias(), v.normed);
            ops.add(hidden, v.normed);

            // Feed-forward block: a dense MLP, or a mixture of experts in an MoE model's sparse layers.
            ops.rmsNorm(hidden, w.postAttentionNorm(), eps, v.normed);
            w.feedForward().addTo(v.normed, hidden);
        }
        return hidden;
    }

    @Override
    public Tensor logits(Tensor hidden, boolean allPositions) {
        if (!layers.isLast()) {
            throw new IllegalStateException("logits() runs on the last stage; this stage holds layers " + layers);
        }
        int count = (int) hidden.rowCount();
        // A one-token step (decode) is its own last row: no view is made, so decoding allocates nothing here.
        Tensor rows = allPositions || count == 1 ? hidden : hidden.rows(count - 1, 1);
        ops.rmsNorm(rows, finalNorm, eps, rows);
        Tensor logits = workspace.logits((int) rows.rowCount());
        ops.matmul(rows, lmHead, null, logits);
        return logits;
    }

    @Override
    public Tensor logits(Tensor hidden, int[] rows) {
        if (!layers.isLast()) {
            throw new IllegalStateException("logits() runs on the last stage; this stage holds layers " + layers);
        }
        if (rows.length == 0 || rows.length > hidden.rowCount()) {
            throw new IllegalArgumentException("logits of " + rows.length + " rows requested from " + hidden.rowCount());
        }
        Tensor selected = workspace.view((int) hidden.rowCount()).normed.rows(0, rows.length);
        ops.gatherRows(hidden, rows, selected);
        ops.rmsNorm(selected, finalNorm, eps, selected);
        Tensor logits = workspace.logits(rows.length);
        ops.matmul(selected, lmHead, null, logits);
        return logits;
    }

    private Workspace.View workspace(int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("a step needs at least one token, got " + count);
        }
        if (workspace == null || workspace.capacity < count) {
            if (workspace != null) {
                workspace.close();
            }
            workspace = new Workspace(ops, config, Math.max(count, workspace == null ? 1 : workspace.capacity * 2));
        }
        return workspace.view(count);
    }

    @Override
    public void close() {
        if (workspace != null) {
            workspace.close();
            workspace = null;
        }
        scratch.close();
        ops.free(rotary.cos());
        ops.free(rotary.sin());
        weights.close();
    }
}

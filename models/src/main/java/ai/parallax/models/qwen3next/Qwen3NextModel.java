package ai.parallax.models.qwen3next;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.DenseFeedForward;
import ai.parallax.models.FeedForward;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelException;
import ai.parallax.models.RecurrentStateSlots;
import ai.parallax.models.RotaryTables;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.moe.MixtureOfExperts;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * The forward pass of Qwen3-Next, a hybrid of linear and full attention, read top to bottom:
 *
 * <pre>
 * embed → for each layer: norm(1+w) → linear_attention layer: Gated DeltaNet      → residual
 *                                     full_attention layer:   gated attention     → residual
 *                       → norm(1+w) → mixture of experts + sigmoid-gated shared expert (dense MLP in
 *                                     mlp_only_layers) → residual
 *       → norm(1+w) → lm_head
 * </pre>
 *
 * Full-attention layers keep keys and values in the paged KV pool; linear-attention layers keep a fixed-size state
 * per sequence in the cache's {@link RecurrentStateSlots}, so a batch names a state slot for each sequence
 * ({@link BatchLayout#add(int, int, int[], int)}). A stage may start and end at any layer of either type.
 */
public final class Qwen3NextModel implements CausalLanguageModel {
    private final ModelConfig config;
    private final Qwen3NextConfig next;
    private final LayerRange layers;
    private final Ops ops;
    private final WeightLoader weights;
    private final ScratchBuffers scratch;
    private final ZeroCenteredNorms norms;
    private final Tensor embedding;       // first stage only
    private final Layer[] layerWeights;
    private final Tensor finalNorm;       // last stage only, 1 + w
    private final Tensor lmHead;          // last stage only
    private final RotaryTables rotary;
    private final long weightBytes;
    private final float eps;
    private final ScratchBuffers.Slot hiddenRows;
    private final ScratchBuffers.Slot normedRows;
    private final ScratchBuffers.Slot mixedRows;
    private final ScratchBuffers.Slot logitRows;
    private int[] tokenBuffer = new int[0];

    /** One decoder layer: exactly one of {@code linear} and {@code attention} is set. */
    private record Layer(Tensor inputNorm, GatedDeltaNet linear, GatedAttention attention, Tensor postAttentionNorm,
                         FeedForward feedForward) {
    }

    private Qwen3NextModel(ModelConfig config, Qwen3NextConfig next, LayerRange layers, Ops ops, WeightLoader weights,
                           int maxPositions) {
        this.config = config;
        this.next = next;
        this.layers = layers;
        this.ops = ops;
        this.weights = weights;
        this.scratch = new ScratchBuffers(ops);
        this.norms = new ZeroCenteredNorms(ops);
        this.eps = (float) config.rmsNormEps();
        long hidden = config.hiddenSize();
        long vocab = config.vocabSize();
        this.embedding = weights.requireIf(layers.isFirst(), "model.embed_tokens.weight", vocab, hidden);
        this.layerWeights = new Layer[layers.count()];
        for (int layer = layers.start(); layer < layers.end(); layer++) {
            layerWeights[layer - layers.start()] = loadLayer(layer);
        }
        this.finalNorm = layers.isLast() ? norms.onePlus(weights.require("model.norm.weight", hidden)) : null;
        this.lmHead = weights.requireIf(layers.isLast(), "lm_head.weight", vocab, hidden);
        this.weightBytes = weights.bytesLoaded();
        this.rotary = RotaryTables.build(ops, next.rotaryDim(), config.ropeTheta(), config.ropeScaling(),
                maxPositions);
        this.hiddenRows = scratch.slot("hidden", hidden);
        this.normedRows = scratch.slot("normed", hidden);
        this.mixedRows = scratch.slot("mixed", hidden);
        this.logitRows = scratch.slot("logits", vocab);
    }

    /**
     * Loads the layers {@code layers} of a Qwen3-Next model.
     *
     * @param maxPositions the longest sequence the rotary tables will cover
     */
    public static Qwen3NextModel load(ModelConfig config, WeightLoader weights, LayerRange layers, Ops ops,
                                      int maxPositions) {
        Qwen3NextConfig next = Qwen3NextConfig.parse(config, config.modelType() + " config");
        if (layers.total() != config.numLayers()) {
            throw new ModelException("layer range " + layers + " does not match num_hidden_layers "
                    + config.numLayers());
        }
        return new Qwen3NextModel(config, next, layers, ops, weights, maxPositions);
    }

    private Layer loadLayer(int layer) {
        String p = "model.layers." + layer + ".";
        int hidden = config.hiddenSize();
        Tensor inputNorm = norms.onePlus(weights.require(p + "input_layernorm.weight", hidden));
        GatedDeltaNet linear = null;
        GatedAttention attention = null;
        if (next.isLinear(layer)) {
            linear = GatedDeltaNet.load(weights, ops, scratch, p + "linear_attn.", next, hidden, eps);
        } else {
            attention = new GatedAttention(ops, scratch, weights, p + "self_attn.", hidden, config.numHeads(),
                    config.numKeyValueHeads(), config.headDim(), eps, norms);
        }
        Tensor postNorm = norms.onePlus(weights.require(p + "post_attention_layernorm.weight", hidden));
        FeedForward feedForward = next.moe().isSparse(layer)
                ? MixtureOfExperts.load(weights, ops, scratch, p + "mlp.", next.moe(), hidden)
                : DenseFeedForward.load(weights, ops, scratch, p + "mlp.", hidden, config.intermediateSize(), false);
        return new Layer(inputNorm, linear, attention, postNorm, feedForward);
    }

    @Override
    public ModelConfig config() {
        return config;
    }

    /** The Qwen3-Next fields of the config: layer types, linear-attention shapes. */
    public Qwen3NextConfig hybridConfig() {
        return next;
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
        return newCache(1, capacity, 1);
    }

    /**
     * Refused when this stage has linear-attention layers: their per-sequence state needs a bound on the sequences
     * running at once ({@link #newPagedKvCache(int, int, int)}); sizing it by the block count could take gigabytes.
     */
    @Override
    public KvCache newPagedKvCache(int blockCount, int blockSize) {
        if (hasLinearLayers()) {
            throw new ModelException("qwen3_next layers " + layers + " include linear attention, whose state needs "
                    + "slots per running sequence: create the cache with newPagedKvCache(blockCount, blockSize, "
                    + "maxSequences) and name a state slot for each sequence of a batch");
        }
        return newCache(blockCount, blockSize, 1);
    }

    /**
     * A paged cache of {@code blockCount} blocks for the full-attention layers, and {@code maxSequences} recurrent
     * state slots for the linear-attention layers: at most that many sequences can run at once.
     */
    @Override
    public KvCache newPagedKvCache(int blockCount, int blockSize, int maxSequences) {
        return newCache(blockCount, blockSize, maxSequences);
    }

    private boolean hasLinearLayers() {
        for (Layer w : layerWeights) {
            if (w.linear() != null) {
                return true;
            }
        }
        return false;
    }

    private KvCache newCache(int blockCount, int blockSize, int stateSlots) {
        boolean[] linear = new boolean[layers.count()];
        boolean any = false;
        for (int layer = layers.start(); layer < layers.end(); layer++) {
            linear[layer - layers.start()] = next.isLinear(layer);
            any |= next.isLinear(layer);
        }
        RecurrentStateSlots states = any
                ? new RecurrentStateSlots(layers, linear, stateSlots, next.convStateWidth(), next.deltaStateWidth())
                : null;
        return new KvCache(ops, layers, blockCount, blockSize, config.keyValueWidth(), layer -> !next.isLinear(layer),
                states);
    }

    @Override
    public Tensor embed(int[] tokens, int count) {
        if (!layers.isFirst()) {
            throw new IllegalStateException("embed() runs on the first stage; this stage holds layers " + layers);
        }
        if (tokenBuffer.length != count) {
            tokenBuffer = new int[count];
        }
        for (int t = 0; t < count; t++) {
            if (tokens[t] < 0 || tokens[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[t] + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
            tokenBuffer[t] = tokens[t];
        }
        Tensor hidden = hiddenRows.rows(count);
        ops.embedding(embedding, tokenBuffer, hidden);
        return hidden;
    }

    @Override
    public Tensor hiddenInput(int count) {
        return hiddenRows.rows(count);
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
        RecurrentStateSlots states = cache.recurrentStates();
        checkStateSlots(batch, states);
        Tensor normed = normedRows.rows(count);
        Tensor mixed = mixedRows.rows(count);
        for (int i = 0; i < layerWeights.length; i++) {
            int layer = layers.start() + i;
            Layer w = layerWeights[i];

            // Token mixing: linear attention over each sequence's recurrent state, or full attention over its KV.
            ops.rmsNorm(hidden, w.inputNorm(), eps, normed);
            if (w.linear() != null) {
                w.linear().forward(normed, batch, states, layer, mixed);
            } else {
                w.attention().forward(normed, batch, cache, layer, rotary, mixed);
            }
            ops.add(hidden, mixed);

            // Channel mixing: experts plus the gated shared expert, or a dense MLP in mlp_only_layers.
            ops.rmsNorm(hidden, w.postAttentionNorm(), eps, normed);
            w.feedForward().addTo(normed, hidden);
        }
        return hidden;
    }

    private void checkStateSlots(BatchLayout batch, RecurrentStateSlots states) {
        if (!hasLinearLayers()) {
            return;
        }
        if (states == null) {
            throw new ModelException("qwen3_next layers " + layers + " include linear attention, but the cache has no"
                    + " recurrent state slots; create it with this model's newKvCache or newPagedKvCache(blockCount, blockSize, maxSequences)");
        }
        for (int s = 0; s < batch.sequenceCount(); s++) {
            if (batch.stateSlot(s) == BatchLayout.NO_STATE_SLOT) {
                throw new ModelException("qwen3_next linear attention needs a recurrent state slot for every sequence"
                        + " of a batch, but sequence " + s + " has none (BatchLayout.add with a stateSlot)");
            }
        }
    }

    @Override
    public Tensor logits(Tensor hidden, boolean allPositions) {
        if (!layers.isLast()) {
            throw new IllegalStateException("logits() runs on the last stage; this stage holds layers " + layers);
        }
        int count = (int) hidden.rowCount();
        Tensor rows = allPositions ? hidden : hidden.rows(count - 1, 1);
        ops.rmsNorm(rows, finalNorm, eps, rows);
        Tensor logits = logitRows.rows((int) rows.rowCount());
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
        Tensor selected = normedRows.rows(rows.length);
        ops.gatherRows(hidden, rows, selected);
        ops.rmsNorm(selected, finalNorm, eps, selected);
        Tensor logits = logitRows.rows(rows.length);
        ops.matmul(selected, lmHead, null, logits);
        return logits;
    }

    @Override
    public void close() {
        scratch.close();
        norms.close();
        ops.free(rotary.cos());
        ops.free(rotary.sin());
        weights.close();
    }
}

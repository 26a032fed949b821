package ai.parallax.models.gptoss;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelException;
import ai.parallax.models.RotaryTables;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.WeightLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/**
 * The forward pass of gpt-oss (transformers' modeling_gpt_oss), read top to bottom:
 *
 * <pre>
 * embed → for each layer: norm → q,k,v (+bias) → YaRN rope → attention with sinks (sliding window or full, by
 *                          layer_types) → o (+bias) → residual
 *                          → norm → MXFP4 mixture of experts (router+bias, top-k softmax, clamped SwiGLU) → residual
 *       → norm → lm_head
 * </pre>
 *
 * <p>KV caches. A single-sequence cache ({@link #newKvCache}) gives each sliding layer a ring of
 * {@link #ringRows} rows, position p in row {@code p mod rows}, so its memory stays fixed however long the context
 * grows; a step longer than the ring can take is run through the sliding layers' attention in pieces. A paged cache
 * ({@link #newPagedKvCache}, the serving engine's) keeps every position of every layer, because its block tables
 * belong to the engine; the sliding layers then just do not read the old positions.
 */
public final class GptOssModel implements CausalLanguageModel {
    private final ModelConfig config;
    private final GptOssConfig gptOss;
    private final LayerRange layers;
    private final Ops ops;
    private final WeightLoader weights;
    private final ScratchBuffers scratch;
    private final Tensor embedding;        // first stage only
    private final GptOssLayerWeights[] layerWeights;
    private final Tensor finalNorm;        // last stage only
    private final Tensor lmHead;           // last stage only
    private final RotaryTables rotary;
    private final long weightBytes;
    private final float attentionScale;
    private final float eps;
    private final ScratchBuffers.Slot hiddenSlot;
    private final ScratchBuffers.Slot normedSlot;
    private final ScratchBuffers.Slot querySlot;
    private final ScratchBuffers.Slot keySlot;
    private final ScratchBuffers.Slot valueSlot;
    private final ScratchBuffers.Slot attentionSlot;
    private final ScratchBuffers.Slot selectedSlot;
    private final ScratchBuffers.Slot logitsSlot;
    private int[] tokenScratch = new int[0];
    private BatchLayout ringLayout;        // position → ring row, for the current ring size
    private int[] ringTable = new int[0];  // a block table that names block 0 for every span: rows repeat
    private int[][] slotRingTables = new int[0][];  // per state slot k, a table naming block k throughout

    private GptOssModel(ModelConfig config, GptOssConfig gptOss, LayerRange layers, Ops ops, WeightLoader weights,
                        int maxPositions) {
        this.config = config;
        this.gptOss = gptOss;
        this.layers = layers;
        this.ops = ops;
        this.weights = weights;
        this.scratch = new ScratchBuffers(ops);
        long hidden = config.hiddenSize();
        long vocab = config.vocabSize();
        this.embedding = weights.requireIf(layers.isFirst(), "model.embed_tokens.weight", vocab, hidden);
        this.layerWeights = new GptOssLayerWeights[layers.count()];
        for (int layer = layers.start(); layer < layers.end(); layer++) {
            layerWeights[layer - layers.start()] = loadLayer(layer);
        }
        this.finalNorm = weights.requireIf(layers.isLast(), "model.norm.weight", hidden);
        this.lmHead = !layers.isLast() ? null : config.tieWordEmbeddings()
                ? weights.require("model.embed_tokens.weight", vocab, hidden)
                : weights.require("lm_head.weight", vocab, hidden);
        this.weightBytes = weights.bytesLoaded();
        this.rotary = gptOss.yarn() == null
                ? RotaryTables.build(ops, config.headDim(), config.ropeTheta(), config.ropeScaling(), maxPositions)
                : RotaryTables.build(ops, gptOss.yarn().inverseFrequencies(config.headDim(), config.ropeTheta()),
                        gptOss.yarn().attentionFactor(), maxPositions);
        this.attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
        this.eps = (float) config.rmsNormEps();
        this.hiddenSlot = scratch.slot("hidden", hidden);
        this.normedSlot = scratch.slot("normed", hidden);
        this.querySlot = scratch.slot("query", config.queryWidth());
        this.keySlot = scratch.slot("key", config.keyValueWidth());
        this.valueSlot = scratch.slot("value", config.keyValueWidth());
        this.attentionSlot = scratch.slot("attention", config.queryWidth());
        this.selectedSlot = scratch.slot("selected", hidden);
        this.logitsSlot = scratch.slot("logits", vocab);
    }

    /**
     * Loads the layers {@code layers} of a gpt-oss model.
     *
     * @param maxPositions the longest sequence the rotary tables will cover
     * @throws ModelException naming the field for any config value this engine does not implement
     */
    public static GptOssModel load(ModelConfig config, WeightLoader weights, LayerRange layers, Ops ops,
                                   int maxPositions, String source) {
        GptOssConfig gptOss = GptOssConfig.parse(config, source);
        if (layers.total() != config.numLayers()) {
            throw new ModelException("layer range " + layers + " does not match num_hidden_layers "
                    + config.numLayers());
        }
        return new GptOssModel(config, gptOss, layers, ops, weights, maxPositions);
    }

    private GptOssLayerWeights loadLayer(int layer) {
        String p = "model.layers." + layer + ".";
        long hidden = config.hiddenSize();
        long qWidth = config.queryWidth();
        long kvWidth = config.keyValueWidth();
        boolean bias = config.attentionBias();
        return new GptOssLayerWeights(
                gptOss.isSliding(layer),
                weights.require(p + "input_layernorm.weight", hidden),
                weights.require(p + "self_attn.q_proj.weight", qWidth, hidden),
                weights.requireIf(bias, p + "self_attn.q_proj.bias", qWidth),
                weights.require(p + "self_attn.k_proj.weight", kvWidth, hidden),
                weights.requireIf(bias, p + "self_attn.k_proj.bias", kvWidth),
                weights.require(p + "self_attn.v_proj.weight", kvWidth, hidden),
                weights.requireIf(bias, p + "self_attn.v_proj.bias", kvWidth),
                weights.require(p + "self_attn.o_proj.weight", hidden, qWidth),
                weights.requireIf(bias, p + "self_attn.o_proj.bias", hidden),
                weights.require(p + "self_attn.sinks", config.numHeads()),
                weights.require(p + "post_attention_layernorm.weight", hidden),
                GptOssExperts.load(weights, ops, scratch, p + "mlp.", gptOss, hidden, config.intermediateSize()));
    }

    public GptOssConfig gptOssConfig() {
        return gptOss;
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

    /**
     * Rows a sliding layer's ring keeps in a single-sequence cache of {@code capacity} positions: twice the
     * window, so that a step of up to {@code window + 1} tokens writes its keys without overwriting one that a query
     * of the same step still reads (a step writes rows of positions up to {@code window + step − 1} apart).
     */
    public static int ringRows(int slidingWindow, int capacity) {
        return Math.min(capacity, 2 * slidingWindow);
    }

    @Override
    public KvCache newKvCache(int capacity) {
        if (capacity > rotary.maxPositions()) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " exceeds the " + rotary.maxPositions()
                    + " positions this model was loaded for");
        }
        int[] rows = new int[layers.count()];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = layerWeights[i].sliding() ? ringRows(gptOss.slidingWindow(), capacity) : capacity;
        }
        return new KvCache(ops, layers, capacity, config.keyValueWidth(), rows);
    }

    /** Full pools for every layer, sliding ones included: for callers that name no state slot per sequence. */
    @Override
    public KvCache newPagedKvCache(int blockCount, int blockSize) {
        return new KvCache(ops, layers, blockCount, blockSize, config.keyValueWidth());
    }

    /**
     * Paged pools for the full-attention layers, and for each sliding layer a ring of {@link #ringRows} rows per
     * sequence (at most {@code maxSequences} at once, each naming its state slot in the batch): the sliding layers'
     * memory stays fixed however long the contexts grow.
     */
    @Override
    public KvCache newPagedKvCache(int blockCount, int blockSize, int maxSequences) {
        int ring = ringRows(gptOss.slidingWindow(), rotary.maxPositions());
        return KvCache.pagedWithRings(ops, layers, blockCount, blockSize, config.keyValueWidth(),
                gptOss::isSliding, ring, maxSequences);
    }

    @Override
    public Tensor embed(int[] tokens, int count) {
        if (!layers.isFirst()) {
            throw new IllegalStateException("embed() runs on the first stage; this stage holds layers " + layers);
        }
        Tensor hidden = hiddenInput(count);
        for (int t = 0; t < count; t++) {
            if (tokens[t] < 0 || tokens[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + tokens[t] + " is outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        int[] ids = tokens;
        if (tokens.length != count) {
            if (tokenScratch.length != count) {
                tokenScratch = new int[count];
            }
            System.arraycopy(tokens, 0, tokenScratch, 0, count);
            ids = tokenScratch;
        }
        ops.embedding(embedding, ids, hidden);
        return hidden;
    }

    @Override
    public Tensor hiddenInput(int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("a step needs at least one token, got " + count);
        }
        return hiddenSlot.rows(count);
    }

    /** One sequence: full layers use the cache's contiguous rows, sliding layers their rings. */
    @Override
    public Tensor forwardLayers(Tensor hidden, int startPos, KvCache cache) {
        return run(hidden, cache.singleSequence(startPos, (int) hidden.rowCount()), cache);
    }

    @Override
    public Tensor forwardLayers(Tensor hidden, BatchLayout batch, KvCache cache) {
        for (int i = 0; i < layerWeights.length; i++) {
            int layer = layers.start() + i;
            if (cache.rows(layer) < cache.capacity() && cache.ringSlots() == 0) {
                throw new ModelException("gpt_oss: layer " + layer + " of this KV cache is a sliding-window ring of "
                        + cache.rows(layer) + " rows, which serves one sequence; a batch needs newPagedKvCache");
            }
        }
        if (cache.ringSlots() > 0) {
            for (int s = 0; s < batch.sequenceCount(); s++) {
                int slot = batch.stateSlot(s);
                if (slot < 0 || slot >= cache.ringSlots()) {
                    throw new ModelException("gpt_oss: sequence " + s + " of the batch names state slot " + slot
                            + ", but its sliding layers keep rings for slots [0, " + cache.ringSlots() + ")");
                }
            }
        }
        return run(hidden, batch, cache);
    }

    private Tensor run(Tensor hidden, BatchLayout batch, KvCache cache) {
        int count = (int) hidden.rowCount();
        if (count != batch.tokenCount()) {
            throw new IllegalArgumentException("hidden states have " + count + " rows but the batch has "
                    + batch.tokenCount() + " tokens");
        }
        Tensor normed = normedSlot.rows(count);
        Tensor query = querySlot.rows(count);
        Tensor key = keySlot.rows(count);
        Tensor value = valueSlot.rows(count);
        Tensor attention = attentionSlot.rows(count);
        int[] positions = batch.positions();
        for (int i = 0; i < layerWeights.length; i++) {
            int layer = layers.start() + i;
            GptOssLayerWeights w = layerWeights[i];

            // Attention block.
            ops.rmsNorm(hidden, w.inputNorm(), eps, normed);
            ops.matmul(normed, w.queryProj(), w.queryBias(), query);
            ops.matmul(normed, w.keyProj(), w.keyBias(), key);
            ops.matmul(normed, w.valueProj(), w.valueBias(), value);
            ops.rope(query, config.numHeads(), config.headDim(), positions, rotary.cos(), rotary.sin());
            ops.rope(key, config.numKeyValueHeads(), config.headDim(), positions, rotary.cos(), rotary.sin());
            if (w.sliding() && cache.ringSlots() > 0) {
                attendThroughSlotRings(layer, w, query, key, value, batch, cache, attention);
            } else if (w.sliding() && cache.rows(layer) < cache.capacity()) {
                attendThroughRing(layer, w, query, key, value, batch.startPosition(0), cache, attention);
            } else {
                ops.scatterRows(key, cache.keys(layer), batch.slots());
                ops.scatterRows(value, cache.values(layer), batch.slots());
                ops.pagedAttentionWithSinks(query, cache.keys(layer), cache.values(layer), batch, config.numHeads(),
                        config.numKeyValueHeads(), config.headDim(), attentionScale, window(w), w.sinks(), attention);
            }
            ops.matmul(attention, w.outputProj(), w.outputBias(), normed);
            ops.add(hidden, normed);

            // Feed-forward block: the MXFP4 mixture of experts.
            ops.rmsNorm(hidden, w.postAttentionNorm(), eps, normed);
            w.experts().addTo(normed, hidden);
        }
        return hidden;
    }

    private int window(GptOssLayerWeights w) {
        return w.sliding() ? gptOss.slidingWindow() : 0;
    }

    /**
     * A sliding layer's attention for one sequence over its ring: position p lives in row {@code p mod rows}. A
     * piece of at most {@code rows − window + 1} tokens writes its keys without overwriting any its own queries read,
     * so a longer step runs in such pieces; a decode step is one piece.
     */
    private void attendThroughRing(int layer, GptOssLayerWeights w, Tensor query, Tensor key, Tensor value,
                                   int startPos, KvCache cache, Tensor attention) {
        int rows = cache.rows(layer);
        int count = (int) query.rowCount();
        int piece = rows - gptOss.slidingWindow() + 1;
        BatchLayout ring = ringLayout(rows);
        for (int from = 0; from < count; from += piece) {
            int n = Math.min(piece, count - from);
            boolean whole = n == count;
            ring.clear();
            ring.add(startPos + from, n, ringTable);
            Tensor q = whole ? query : query.rows(from, n);
            Tensor out = whole ? attention : attention.rows(from, n);
            ops.scatterRows(whole ? key : key.rows(from, n), cache.keys(layer), ring.slots());
            ops.scatterRows(whole ? value : value.rows(from, n), cache.values(layer), ring.slots());
            ops.pagedAttentionWithSinks(q, cache.keys(layer), cache.values(layer), ring, config.numHeads(),
                    config.numKeyValueHeads(), config.headDim(), attentionScale, gptOss.slidingWindow(), w.sinks(),
                    out);
        }
    }

    /**
     * A sliding layer's attention for a batch whose sequences each own a ring (their state slot k): position p of
     * slot k lives in row {@code k · ringRows + p mod ringRows}, a block table that repeats block k. A decode batch
     * runs in one pass; a sequence with more tokens than a ring piece ({@code ringRows − window + 1}) runs alone, in
     * pieces, as the one-sequence ring does.
     */
    private void attendThroughSlotRings(int layer, GptOssLayerWeights w, Tensor query, Tensor key, Tensor value,
                                        BatchLayout batch, KvCache cache, Tensor attention) {
        int rows = cache.ringRows();
        int piece = rows - gptOss.slidingWindow() + 1;
        BatchLayout ring = ringLayout(rows);
        boolean onePass = true;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            onePass &= batch.tokenCount(s) <= piece;
        }
        if (onePass) {
            ring.clear();
            for (int s = 0; s < batch.sequenceCount(); s++) {
                ring.add(batch.startPosition(s), batch.tokenCount(s), slotRingTable(batch.stateSlot(s)));
            }
            attendRing(w, query, key, value, ring, cache, layer, attention);
            return;
        }
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int first = batch.tokenStart(s);
            int[] table = slotRingTable(batch.stateSlot(s));
            for (int from = 0; from < batch.tokenCount(s); from += piece) {
                int n = Math.min(piece, batch.tokenCount(s) - from);
                ring.clear();
                ring.add(batch.startPosition(s) + from, n, table);
                attendRing(w, query.rows(first + from, n), key.rows(first + from, n), value.rows(first + from, n),
                        ring, cache, layer, attention.rows(first + from, n));
            }
        }
    }

    private void attendRing(GptOssLayerWeights w, Tensor query, Tensor key, Tensor value, BatchLayout ring,
                            KvCache cache, int layer, Tensor attention) {
        ops.scatterRows(key, cache.keys(layer), ring.slots());
        ops.scatterRows(value, cache.values(layer), ring.slots());
        ops.pagedAttentionWithSinks(query, cache.keys(layer), cache.values(layer), ring, config.numHeads(),
                config.numKeyValueHeads(), config.headDim(), attentionScale, gptOss.slidingWindow(), w.sinks(),
                attention);
    }

    /** A block table naming block {@code slot} throughout, for rings of {@code ringLayout}'s block size. */
    private int[] slotRingTable(int slot) {
        if (slotRingTables.length <= slot) {
            slotRingTables = java.util.Arrays.copyOf(slotRingTables, slot + 1);
        }
        if (slotRingTables[slot] == null) {
            slotRingTables[slot] = new int[ringTable.length];
            java.util.Arrays.fill(slotRingTables[slot], slot);
        }
        return slotRingTables[slot];
    }

    /** A layout with blocks of {@code rows} positions and a table naming block 0 throughout: row = p mod rows. */
    private BatchLayout ringLayout(int rows) {
        if (ringLayout == null || ringLayout.blockSize() != rows) {
            ringLayout = new BatchLayout(rows);
            ringTable = new int[rotary.maxPositions() / rows + 2];
            slotRingTables = new int[0][];
        }
        return ringLayout;
    }

    @Override
    public Tensor logits(Tensor hidden, boolean allPositions) {
        if (!layers.isLast()) {
            throw new IllegalStateException("logits() runs on the last stage; this stage holds layers " + layers);
        }
        int count = (int) hidden.rowCount();
        Tensor rows = allPositions || count == 1 ? hidden : hidden.rows(count - 1, 1);
        ops.rmsNorm(rows, finalNorm, eps, rows);
        Tensor logits = logitsSlot.rows((int) rows.rowCount());
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
        Tensor selected = selectedSlot.rows(rows.length);
        ops.gatherRows(hidden, rows, selected);
        ops.rmsNorm(selected, finalNorm, eps, selected);
        Tensor logits = logitsSlot.rows(rows.length);
        ops.matmul(selected, lmHead, null, logits);
        return logits;
    }

    @Override
    public void close() {
        scratch.close();
        ops.free(rotary.cos());
        ops.free(rotary.sin());
        weights.close();
    }
}

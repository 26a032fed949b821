package ai.parallax.models;

import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

import java.util.function.IntPredicate;

/**
 * Keys and values for the layers of one stage, in F32 pools of {@code [blocks·blockSize, kvHeads·headDim]} per
 * layer. The pool is cut into fixed-size blocks; which blocks hold which sequence's positions is the business of
 * the block tables in a {@link BatchLayout} (the serving engine's allocator hands them out).
 *
 * <p>A hybrid model's linear-attention layers have no keys and values; the cache holds their fixed-size state per
 * sequence in {@link #recurrentStates()} instead, and only the other layers get pools.
 *
 * <p>A cache of one block as large as the sequence is the contiguous cache of a single sequence: position p is row
 * p. {@link #singleSequence} gives the batch layout for that use.
 */
public final class KvCache implements AutoCloseable {
    private final Ops ops;
    private final LayerRange layers;
    private final int blockCount;
    private final int blockSize;
    private final Tensor[] keys;
    private final Tensor[] values;
    private final BatchLayout single;
    private final int[] identityTable;
    private final boolean latent;
    private final RecurrentStateSlots recurrentStates; // null when the stage has no recurrent layer
    private int ringSlots;   // sequences with a ring of their own in the ring layers of a paged cache; 0: none
    private int ringRows;    // rows of one sequence's ring

    /** A contiguous cache for one sequence of up to {@code capacity} positions. */
    public KvCache(Ops ops, LayerRange layers, int capacity, int keyValueWidth) {
        this(ops, layers, 1, capacity, keyValueWidth);
    }

    /** A paged cache of {@code blockCount} blocks of {@code blockSize} positions. */
    public KvCache(Ops ops, LayerRange layers, int blockCount, int blockSize, int keyValueWidth) {
        this(ops, layers, blockCount, blockSize, keyValueWidth, false, null, layer -> true, null);
    }

    /**
     * A paged cache of one pool per layer, {@code [blocks·blockSize, latentWidth]}, that {@link #keys} and
     * {@link #values} both return: for attention whose keys and values are both read from one compressed latent
     * (DeepSeek's multi-head latent attention caches {@code kv_lora_rank + qk_rope_head_dim} floats per position).
     */
    public static KvCache latent(Ops ops, LayerRange layers, int blockCount, int blockSize, int latentWidth) {
        return new KvCache(ops, layers, blockCount, blockSize, latentWidth, true, null, layer -> true, null);
    }

    /** Bytes of one block of a {@link #latent} cache over all layers of the stage. */
    public static long latentBytesPerBlock(int layerCount, int blockSize, int latentWidth) {
        return (long) layerCount * blockSize * latentWidth * Float.BYTES;
    }


    /**
     * A contiguous cache for one sequence of up to {@code capacity} positions in which layer {@code l} keeps only
     * {@code layerRows[l − layers.start()]} rows (at most {@code capacity}): a sliding-window layer's ring of its
     * most recent positions, which its model maps to rows itself ({@link #rows}). Its memory does not grow with
     * the capacity.
     */
    public KvCache(Ops ops, LayerRange layers, int capacity, int keyValueWidth, int[] layerRows) {
        this(ops, layers, 1, capacity, keyValueWidth, false, layerRows.clone(), layer -> true, null);
    }

    /**
     * A paged cache in which the layers {@code ringLayer} accepts (sliding-window attention) keep no pool of
     * {@code blockCount} blocks but a ring of {@code ringRows} rows for each of {@code slots} sequences, named by the
     * state slot of each sequence's batch entry: position p of the sequence in slot k lives in row
     * {@code k · ringRows + p mod ringRows}. Their memory is fixed by the window and the sequences running at once,
     * however long the contexts grow. The other layers are paged as usual.
     */
    public static KvCache pagedWithRings(Ops ops, LayerRange layers, int blockCount, int blockSize, int keyValueWidth,
                                         IntPredicate ringLayer, int ringRows, int slots) {
        if (ringRows <= 0 || slots <= 0) {
            throw new IllegalArgumentException("rings need rows and slots, got " + ringRows + " rows for " + slots
                    + " sequences");
        }
        int[] rows = new int[layers.count()];
        long capacity = (long) blockCount * blockSize;
        long ringLayerRows = Math.min(capacity, Math.multiplyExact((long) ringRows, slots));
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (int) (ringLayer.test(layers.start() + i) ? ringLayerRows : capacity);
        }
        KvCache cache = new KvCache(ops, layers, blockCount, blockSize, keyValueWidth, false, rows, layer -> true,
                null);
        if (ringLayerRows < capacity) {
            cache.ringSlots = slots;
            cache.ringRows = ringRows;
        }
        return cache;
    }

    /**
     * Sequences with a ring of their own in the ring layers of a {@link #pagedWithRings} cache, 0 when the cache has
     * no per-sequence rings (its ring layers, if any, are the single ring of a one-sequence cache).
     */
    public int ringSlots() {
        return ringSlots;
    }

    /** Rows of one sequence's ring in a {@link #pagedWithRings} cache. */
    public int ringRows() {
        return ringRows;
    }

    /**
     * Sequences that need a state slot of their own in every batch (recurrent state or a ring), 0 when the cache
     * needs none. Such state cannot be shared between sequences the way a cached prefix's blocks can.
     */
    public int sequenceSlots() {
        return Math.max(ringSlots, recurrentStates == null ? 0 : recurrentStates.slotCount());
    }

    /**
     * A paged cache for a hybrid stage: only the layers {@code attentionLayer} accepts get key and value pools; the
     * others (linear attention) keep their fixed-size state in {@code recurrentStates}, which may be null when the
     * stage has none.
     */
    public KvCache(Ops ops, LayerRange layers, int blockCount, int blockSize, int keyValueWidth,
                   IntPredicate attentionLayer, RecurrentStateSlots recurrentStates) {
        this(ops, layers, blockCount, blockSize, keyValueWidth, false, null, attentionLayer, recurrentStates);
    }

    private KvCache(Ops ops, LayerRange layers, int blockCount, int blockSize, int keyValueWidth, boolean latent,
                    int[] layerRows, IntPredicate attentionLayer, RecurrentStateSlots recurrentStates) {
        if (blockCount <= 0 || blockSize <= 0) {
            throw new IllegalArgumentException("KV cache needs a positive capacity, got " + blockCount + " blocks of "
                    + blockSize + " positions");
        }
        this.ops = ops;
        this.layers = layers;
        this.blockCount = blockCount;
        this.blockSize = blockSize;
        this.latent = latent;
        long rows = Math.multiplyExact((long) blockCount, blockSize);
        this.keys = new Tensor[layers.count()];
        this.values = new Tensor[layers.count()];
        if (layerRows != null && layerRows.length != layers.count()) {
            throw new IllegalArgumentException(layerRows.length + " row counts for the " + layers.count()
                    + " layers " + layers);
        }
        for (int i = 0; i < layers.count(); i++) {
            int layer = layers.start() + i;
            if (!attentionLayer.test(layer)) {
                continue;
            }
            long layerRowCount = layerRows == null ? rows : layerRows[i];
            if (layerRowCount <= 0 || layerRowCount > rows) {
                throw new IllegalArgumentException("layer " + layer + " of a KV cache of " + rows
                        + " positions cannot keep " + layerRowCount + " rows");
            }
            if (latent) {
                keys[i] = ops.allocate("kv.latent." + layer, layerRowCount, keyValueWidth);
                values[i] = keys[i];
            } else {
                keys[i] = ops.allocate("kv.keys." + layer, layerRowCount, keyValueWidth);
                values[i] = ops.allocate("kv.values." + layer, layerRowCount, keyValueWidth);
            }
        }
        this.single = new BatchLayout(blockSize);
        this.identityTable = new int[blockCount];
        for (int b = 0; b < blockCount; b++) {
            identityTable[b] = b;
        }
        this.recurrentStates = recurrentStates;
    }

    /** Positions the cache can hold in all. */
    public int capacity() {
        return blockCount * blockSize;
    }

    public int blockCount() {
        return blockCount;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Bytes of one block over all layers of the stage, keys and values: what sizing a pool divides by. */
    public static long bytesPerBlock(int layerCount, int blockSize, int keyValueWidth) {
        return 2L * layerCount * blockSize * keyValueWidth * Float.BYTES;
    }

    /** Rows layer {@code layer} keeps: the capacity, or fewer for a ring of recent positions. */
    public int rows(int layer) {
        return (int) keys[layer - layers.start()].rowCount();
    }

    /** Bytes of keys and values this cache holds, over all its layers. */
    public long byteSize() {
        long total = 0;
        for (int i = 0; i < keys.length; i++) {
            total += keys[i].byteSize() + values[i].byteSize();
        }
        return total;
    }

    public Tensor keys(int layer) {
        return pool(keys, layer);
    }

    public Tensor values(int layer) {
        return pool(values, layer);
    }

    /** The fixed-size state of the stage's recurrent layers, or null when it has none. */
    public RecurrentStateSlots recurrentStates() {
        return recurrentStates;
    }

    private Tensor pool(Tensor[] pools, int layer) {
        Tensor pool = pools[layer - layers.start()];
        if (pool == null) {
            throw new IllegalArgumentException("layer " + layer + " keeps no keys and values (a recurrent layer)");
        }
        return pool;
    }

    /**
     * The layout of a step that runs {@code count} tokens of the cache's only sequence from {@code startPos}, with
     * the blocks in order (position p is row p) and, for a stage with linear attention, recurrent state slot 0. Reused: valid until the next call.
     */
    public BatchLayout singleSequence(int startPos, int count) {
        if (startPos + count > capacity()) {
            throw new IllegalArgumentException("positions up to " + (startPos + count)
                    + " exceed the KV cache capacity " + capacity());
        }
        single.clear();
        single.add(startPos, count, identityTable, recurrentStates == null ? BatchLayout.NO_STATE_SLOT : 0);
        return single;
    }

    /** Gives the cache's memory back to the backend. */
    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                ops.free(keys[i]);
            }
            if (!latent && values[i] != null) {
                ops.free(values[i]);
            }
        }
    }
}

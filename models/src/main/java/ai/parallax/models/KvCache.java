package ai.parallax.models;

import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

/**
 * Keys and values of one sequence for the layers of one stage, in contiguous F32 tensors of
 * {@code [capacity, kvHeads·headDim]} per layer. Position p of the sequence is row p.
 */
public final class KvCache implements AutoCloseable {
    private final Ops ops;
    private final LayerRange layers;
    private final int capacity;
    private final Tensor[] keys;
    private final Tensor[] values;

    public KvCache(Ops ops, LayerRange layers, int capacity, int keyValueWidth) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("KV cache capacity must be positive, got " + capacity);
        }
        this.ops = ops;
        this.layers = layers;
        this.capacity = capacity;
        this.keys = new Tensor[layers.count()];
        this.values = new Tensor[layers.count()];
        for (int i = 0; i < layers.count(); i++) {
            int layer = layers.start() + i;
            keys[i] = ops.allocate("kv.keys." + layer, capacity, keyValueWidth);
            values[i] = ops.allocate("kv.values." + layer, capacity, keyValueWidth);
        }
    }

    /** Positions the cache can hold. */
    public int capacity() {
        return capacity;
    }

    public Tensor keys(int layer) {
        return keys[layer - layers.start()];
    }

    public Tensor values(int layer) {
        return values[layer - layers.start()];
    }

    /** Gives the cache's memory back to the backend. */
    @Override
    public void close() {
        for (int i = 0; i < keys.length; i++) {
            ops.free(keys[i]);
            ops.free(values[i]);
        }
    }
}

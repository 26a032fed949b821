package ai.parallax.models;

import java.util.Arrays;

/**
 * The fixed-size per-sequence state of a stage's recurrent layers (linear attention), kept in slots beside the
 * paged KV cache. Unlike keys and values it does not grow with the context: each sequence owns one slot for its
 * whole life, named in its {@link ai.parallax.tensors.ops.BatchLayout#add(int, int, int[], int) batch entry}; the
 * serving engine hands slots out as it does KV blocks, at most {@link #slotCount()} sequences at a time.
 *
 * <p>Each recurrent layer keeps {@code parts.length} arrays ({@code parts[i]} floats per slot), for example a
 * convolution window and a recurrence matrix. The state lives in host memory: the recurrence runs on the host
 * (see the linear-attention layers that use it), so keeping it there avoids a device round trip of the state
 * every step.
 */
public final class RecurrentStateSlots {
    private final LayerRange layers;
    private final int slotCount;
    private final int[] parts;
    private final float[][][] state;   // [layer in stage][part] → slotCount × parts[part] floats; null: no state
    private final long bytesPerSlot;

    /**
     * @param recurrentLayers for each layer of {@code layers} (index {@code layer - layers.start()}), whether it
     *                        keeps a recurrent state
     * @param parts           floats per slot of each part of a recurrent layer's state
     */
    public RecurrentStateSlots(LayerRange layers, boolean[] recurrentLayers, int slotCount, int... parts) {
        if (recurrentLayers.length != layers.count()) {
            throw new IllegalArgumentException(recurrentLayers.length + " recurrent-layer flags for the "
                    + layers.count() + " layers " + layers);
        }
        if (slotCount <= 0) {
            throw new IllegalArgumentException("recurrent state needs at least one slot, got " + slotCount);
        }
        this.layers = layers;
        this.slotCount = slotCount;
        this.parts = parts.clone();
        this.state = new float[layers.count()][][];
        long perSlot = 0;
        for (int i = 0; i < recurrentLayers.length; i++) {
            if (!recurrentLayers[i]) {
                continue;
            }
            state[i] = new float[parts.length][];
            for (int p = 0; p < parts.length; p++) {
                state[i][p] = new float[Math.multiplyExact(slotCount, parts[p])];
                perSlot += (long) parts[p] * Float.BYTES;
            }
        }
        this.bytesPerSlot = perSlot;
    }

    public int slotCount() {
        return slotCount;
    }

    /** Bytes one sequence's state takes over all recurrent layers of the stage: what sizing the slots divides by. */
    public long bytesPerSlot() {
        return bytesPerSlot;
    }

    /**
     * The array holding part {@code part} of layer {@code layer}'s state for every slot; slot s occupies
     * {@code [offset(part, s), offset(part, s) + width(part))}.
     */
    public float[] part(int layer, int part) {
        float[][] layerState = state[layer - layers.start()];
        if (layerState == null) {
            throw new IllegalArgumentException("layer " + layer + " keeps no recurrent state");
        }
        return layerState[part];
    }

    public int width(int part) {
        return parts[part];
    }

    public int offset(int part, int slot) {
        return checkSlot(slot) * parts[part];
    }

    /** Empties a slot of one layer: a sequence that starts at position 0 starts from zeros. */
    public void reset(int layer, int slot) {
        checkSlot(slot);
        float[][] layerState = state[layer - layers.start()];
        for (int p = 0; p < parts.length; p++) {
            Arrays.fill(layerState[p], slot * parts[p], (slot + 1) * parts[p], 0f);
        }
    }

    private int checkSlot(int slot) {
        if (slot < 0 || slot >= slotCount) {
            throw new IllegalArgumentException("recurrent state slot " + slot + " is outside [0, " + slotCount
                    + "); the batch layout must name a slot for each sequence of a model with linear attention");
        }
        return slot;
    }
}

package ai.parallax.runtime.kv;

import java.util.HashMap;
import java.util.Map;

/**
 * Hands out the recurrent state slots of a model with linear attention, one per running sequence, as
 * {@link BlockAllocator} hands out KV blocks. A sequence keeps its slot from its first step until it finishes or is
 * pre-empted (it then restarts from position 0, which empties whichever slot it gets next). A pure decision: no
 * threads, no clock.
 */
public final class StateSlotAllocator {
    private final int[] freeStack;
    private int freeTop;
    private final Map<Long, Integer> slotOfSequence = new HashMap<>();

    public StateSlotAllocator(int slotCount) {
        if (slotCount <= 0) {
            throw new IllegalArgumentException("a state slot pool needs slots, got " + slotCount);
        }
        freeStack = new int[slotCount];
        // Lowest ids on top, so a fresh pool hands out 0, 1, 2, ...
        for (int i = 0; i < slotCount; i++) {
            freeStack[i] = slotCount - 1 - i;
        }
        freeTop = slotCount;
    }

    /** The slot of {@code sequence}, taking a free one on its first call. */
    public int slotOf(long sequence) {
        Integer slot = slotOfSequence.get(sequence);
        if (slot != null) {
            return slot;
        }
        if (freeTop == 0) {
            throw new IllegalStateException("all " + freeStack.length + " recurrent state slots are held; sequence "
                    + sequence + " cannot run (more sequences in a step than the engine's max running)");
        }
        int taken = freeStack[--freeTop];
        slotOfSequence.put(sequence, taken);
        return taken;
    }

    /** Gives the slot of {@code sequence} back, if it holds one. */
    public void release(long sequence) {
        Integer slot = slotOfSequence.remove(sequence);
        if (slot != null) {
            freeStack[freeTop++] = slot;
        }
    }

    /** Slots held now. */
    public int inUse() {
        return freeStack.length - freeTop;
    }
}

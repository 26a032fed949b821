package ai.parallax.runtime.kv;

import java.util.Arrays;

/**
 * Hands out the recurrent state slots of a model with linear attention, one per running sequence, as
 * {@link BlockAllocator} hands out KV blocks. A sequence keeps its slot from its first step until it finishes or is
 * pre-empted (it then restarts from position 0, which empties whichever slot it gets next). A pure decision: no
 * threads, no clock.
 *
 * <p>The slots are few (one per sequence the engine runs at once), so a lookup scans the slots' holders: no map,
 * and no boxed sequence id per sequence per step.
 */
public final class StateSlotAllocator {
    private final int[] freeStack;
    private int freeTop;
    /** The sequence holding each slot, {@link #FREE} for none. */
    private final long[] holder;
    private static final long FREE = Long.MIN_VALUE;

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
        holder = new long[slotCount];
        Arrays.fill(holder, FREE);
    }

    private int heldBy(long sequence) {
        for (int slot = 0; slot < holder.length; slot++) {
            if (holder[slot] == sequence) {
                return slot;
            }
        }
        return -1;
    }

    /** The slot of {@code sequence}, taking a free one on its first call. */
    public int slotOf(long sequence) {
        if (sequence == FREE) {
            throw new IllegalArgumentException("sequence id " + sequence + " is reserved");
        }
        int slot = heldBy(sequence);
        if (slot >= 0) {
            return slot;
        }
        if (freeTop == 0) {
            throw new IllegalStateException("all " + freeStack.length + " recurrent state slots are held; sequence "
                    + sequence + " cannot run (more sequences in a step than the engine's max running)");
        }
        int taken = freeStack[--freeTop];
        holder[taken] = sequence;
        return taken;
    }

    /** Gives the slot of {@code sequence} back, if it holds one. */
    public void release(long sequence) {
        int slot = sequence == FREE ? -1 : heldBy(sequence);
        if (slot >= 0) {
            holder[slot] = FREE;
            freeStack[freeTop++] = slot;
        }
    }

    /** Slots held now. */
    public int inUse() {
        return freeStack.length - freeTop;
    }
}

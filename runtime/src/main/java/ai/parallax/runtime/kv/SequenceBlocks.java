package ai.parallax.runtime.kv;

import java.util.Arrays;

/**
 * The block table of one sequence: block {@code i} holds positions {@code [i·blockSize, (i+1)·blockSize)}. It also
 * remembers how many of its full blocks are published to the prefix cache, and the hash chained up to the last of
 * them, so publishing as the sequence grows costs one hash per new block.
 */
public final class SequenceBlocks {
    private final BlockAllocator allocator;
    private int[] table = new int[4];
    private int count;
    private int publishedCount;
    private long lastHash = BlockAllocator.ROOT_HASH;

    public SequenceBlocks(BlockAllocator allocator) {
        this.allocator = allocator;
    }

    /** The block ids, in position order; the array may be longer than {@link #count()}. Valid until it grows. */
    public int[] table() {
        return table;
    }

    public int count() {
        return count;
    }

    /**
     * Makes the table cover positions {@code [0, positions)}, allocating blocks as needed. Returns false, keeping the
     * blocks it got, when the pool ran out.
     */
    public boolean ensureCapacity(int positions) {
        int needed = (positions + allocator.blockSize() - 1) / allocator.blockSize();
        while (count < needed) {
            int block = allocator.allocate();
            if (block < 0) {
                return false;
            }
            append(block);
        }
        return true;
    }

    /** Blocks that covering {@code positions} would take beyond those held. */
    public int blocksMissing(int positions) {
        return Math.max(0, (positions + allocator.blockSize() - 1) / allocator.blockSize() - count);
    }

    /**
     * Takes the longest run of cached full blocks that hold a prefix of {@code tokens[0, length)}, leaving at least
     * one token uncomputed (its logits are needed). The table must be empty. Returns the number of tokens whose keys
     * and values are now in place.
     */
    public int matchPrefix(int[] tokens, int length) {
        if (count != 0) {
            throw new IllegalStateException("prefix matching needs an empty block table, this one has " + count);
        }
        int size = allocator.blockSize();
        int maxBlocks = (length - 1) / size;
        long hash = BlockAllocator.ROOT_HASH;
        while (count < maxBlocks) {
            long next = allocator.chain(hash, tokens, count * size);
            int block = allocator.lookup(next, tokens, count * size);
            if (block < 0) {
                break;
            }
            append(block);
            hash = next;
        }
        publishedCount = count;
        lastHash = hash;
        return count * size;
    }

    /** Publishes every full block whose tokens are all computed ({@code tokens[0, computed)} are in the cache). */
    public void publishFull(int[] tokens, int computed) {
        int size = allocator.blockSize();
        int full = Math.min(computed / size, count);
        while (publishedCount < full) {
            int from = publishedCount * size;
            lastHash = allocator.chain(lastHash, tokens, from);
            allocator.publish(table[publishedCount], lastHash, tokens, from);
            publishedCount++;
        }
    }

    /** Lets go of every block (finished, cancelled or pre-empted). */
    public void releaseAll() {
        for (int i = 0; i < count; i++) {
            allocator.release(table[i]);
        }
        count = 0;
        publishedCount = 0;
        lastHash = BlockAllocator.ROOT_HASH;
    }

    private void append(int block) {
        if (count == table.length) {
            table = Arrays.copyOf(table, count * 2);
        }
        table[count++] = block;
    }
}

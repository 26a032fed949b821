package ai.parallax.runtime.kv;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.Map;

/**
 * The accounting of a paged KV pool: which blocks are free, how many sequences hold each block, and which full
 * blocks hold a known token prefix (the prefix cache). A pure decision with no threads and no clock; the engine
 * thread is its only caller.
 *
 * <p>A block is in one of three states:
 * <ul>
 *   <li><b>free</b>: holds nothing worth keeping;</li>
 *   <li><b>in use</b>: held by one or more sequences (reference count &gt; 0);</li>
 *   <li><b>cached</b>: held by no sequence but still holding a published prefix, so a later prompt with the same
 *       prefix can take it back. Cached blocks count as available: {@link #allocate()} evicts the least recently
 *       released one when no free block is left.</li>
 * </ul>
 *
 * <p>A published block is identified by a hash chained over the whole prefix up to its end (see {@link #chain}),
 * and its own tokens are kept and compared on lookup, so a hash collision within a block cannot hand out wrong keys.
 */
public final class BlockAllocator {
    /** The hash a sequence's first block chains from. */
    public static final long ROOT_HASH = 0x9E3779B97F4A7C15L;

    private final int blockCount;
    private final int blockSize;
    private final int[] refCount;
    private final int[] freeStack;
    private int freeTop;
    private final long[] hashOf;
    private final int[][] tokensOf;
    private final boolean[] published;
    /** Cached blocks in the order they were last released: the first is the least recently used. */
    private final LinkedHashSet<Integer> evictable = new LinkedHashSet<>();
    private final Map<Long, Integer> byHash = new HashMap<>();
    private long prefixHitBlocks;
    private long evictions;
    private final boolean prefixCaching;

    public BlockAllocator(int blockCount, int blockSize) {
        this(blockCount, blockSize, true);
    }

    /**
     * With {@code prefixCaching} false, no block is ever shared: {@link #lookup} finds nothing and {@link #publish}
     * records nothing. A model whose layers carry a recurrent state needs this, because a sequence that skipped a
     * cached prefix would lack that prefix in its state (its keys and values can be shared; its state cannot).
     */
    public BlockAllocator(int blockCount, int blockSize, boolean prefixCaching) {
        this.prefixCaching = prefixCaching;
        if (blockCount <= 0 || blockSize <= 0) {
            throw new IllegalArgumentException("a KV pool needs blocks, got " + blockCount + " blocks of " + blockSize
                    + " positions");
        }
        this.blockCount = blockCount;
        this.blockSize = blockSize;
        this.refCount = new int[blockCount];
        this.freeStack = new int[blockCount];
        this.hashOf = new long[blockCount];
        this.tokensOf = new int[blockCount][];
        this.published = new boolean[blockCount];
        // Lowest ids on top, so a fresh pool hands out 0, 1, 2, ... (easier to read in tests and logs).
        for (int i = 0; i < blockCount; i++) {
            freeStack[i] = blockCount - 1 - i;
        }
        freeTop = blockCount;
    }

    public int blockCount() {
        return blockCount;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Blocks an allocation can still get: free ones plus cached ones that may be evicted. */
    public int available() {
        return freeTop + evictable.size();
    }

    /** Blocks held by at least one sequence. */
    public int inUse() {
        return blockCount - available();
    }

    /** Blocks that hold a published prefix, in use or not. */
    public int cachedBlocks() {
        return byHash.size();
    }

    /** Blocks handed out again from the prefix cache since the start. */
    public long prefixHitBlocks() {
        return prefixHitBlocks;
    }

    /** Cached blocks evicted to make room since the start. */
    public long evictions() {
        return evictions;
    }

    public int referenceCount(int block) {
        return refCount[block];
    }

    /**
     * A block for a new sequence position, with reference count 1: a free one if any, else the least recently
     * released cached one (whose prefix is forgotten). Returns -1 when every block is in use.
     */
    public int allocate() {
        int block;
        if (freeTop > 0) {
            block = freeStack[--freeTop];
        } else if (!evictable.isEmpty()) {
            Iterator<Integer> oldest = evictable.iterator();
            block = oldest.next();
            oldest.remove();
            unpublish(block);
            evictions++;
        } else {
            return -1;
        }
        refCount[block] = 1;
        return block;
    }

    /** One more sequence holds {@code block} (a shared prefix block). */
    public void retain(int block) {
        if (refCount[block] == 0) {
            if (!evictable.remove(block)) {
                throw new IllegalStateException("block " + block + " is free; only held or cached blocks can be retained");
            }
        }
        refCount[block]++;
    }

    /** One sequence lets go of {@code block}; with no holder left it becomes cached (if published) or free. */
    public void release(int block) {
        if (refCount[block] <= 0) {
            throw new IllegalStateException("block " + block + " released more often than it was held");
        }
        if (--refCount[block] == 0) {
            if (published[block]) {
                evictable.add(block);
            } else {
                freeStack[freeTop++] = block;
            }
        }
    }

    /**
     * The hash of a block that holds {@code tokens[from, from + blockSize)} after the prefix whose hash is
     * {@code parent}: it identifies the whole prefix up to the block's end.
     */
    public long chain(long parent, int[] tokens, int from) {
        long h = parent;
        for (int i = from; i < from + blockSize; i++) {
            h = (h ^ tokens[i]) * 0x100000001B3L;
            h ^= h >>> 29;
        }
        return h * 0xBF58476D1CE4E5B9L ^ (h >>> 31);
    }

    /**
     * A cached block that holds {@code tokens[from, from + blockSize)} after the prefix {@code hash} was chained
     * over, retained for the caller; -1 when there is none.
     */
    public int lookup(long hash, int[] tokens, int from) {
        if (!prefixCaching) {
            return -1;
        }
        Integer block = byHash.get(hash);
        if (block == null || !Arrays.equals(tokensOf[block], 0, blockSize, tokens, from, from + blockSize)) {
            return -1;
        }
        retain(block);
        prefixHitBlocks++;
        return block;
    }

    /**
     * Records that the held {@code block} is full with {@code tokens[from, from + blockSize)}, whose prefix hash is
     * {@code hash}, so later prompts can share it. When another block already holds that prefix, this one stays
     * private.
     */
    public void publish(int block, long hash, int[] tokens, int from) {
        if (refCount[block] <= 0) {
            throw new IllegalStateException("block " + block + " must be held to be published");
        }
        if (!prefixCaching || published[block] || byHash.containsKey(hash)) {
            return;
        }
        published[block] = true;
        hashOf[block] = hash;
        tokensOf[block] = Arrays.copyOfRange(tokens, from, from + blockSize);
        byHash.put(hash, block);
    }

    /**
     * Forgets every published prefix: the pool's contents are gone (a rebuilt pipeline starts with empty KV pools).
     * Cached blocks become free; blocks still held stay held but will not be shared.
     */
    public void forgetPrefixes() {
        for (int block : evictable) {
            freeStack[freeTop++] = block;
        }
        evictable.clear();
        for (int block = 0; block < blockCount; block++) {
            if (published[block]) {
                unpublish(block);
            }
        }
    }

    private void unpublish(int block) {
        byHash.remove(hashOf[block]);
        published[block] = false;
        tokensOf[block] = null;
    }
}

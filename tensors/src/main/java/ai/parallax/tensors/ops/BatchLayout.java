package ai.parallax.tensors.ops;

import java.util.Arrays;

/**
 * The shape of one batched forward step: which rows of the step's activations belong to which sequence, at which
 * positions, and where each sequence's keys and values live in a paged KV pool.
 *
 * <p>Sequences are laid out one after another: sequence s owns token rows
 * {@code [tokenStart(s), tokenStart(s) + tokenCount(s))}, at positions
 * {@code [startPosition(s), startPosition(s) + tokenCount(s))}. Position p of a sequence lives in pool row
 * {@code blockTable[p / blockSize] · blockSize + p % blockSize}.
 *
 * <p>A layout is filled anew every step ({@link #clear()}, then {@link #add} per sequence). Its arrays grow to the
 * largest batch seen and are then reused; the exact-length views ({@link #positions()}, {@link #slots()}) are cached
 * per token count, so a steady decode loop allocates nothing.
 */
public final class BatchLayout {
    /** The state slot of a sequence added without one (models without recurrent layers need none). */
    public static final int NO_STATE_SLOT = -1;

    private final int blockSize;
    private int sequences;
    private int tokens;
    private int[] tokenStart = new int[8];
    private int[] tokenCount = new int[8];
    private int[] startPosition = new int[8];
    private int[][] blockTables = new int[8][];
    private int[] stateSlots = new int[8];
    private int[] sequenceOfToken = new int[64];
    private int[] positions = new int[64];
    private int[] slots = new int[64];
    private int[] exactPositions = new int[0];
    private int[] exactSlots = new int[0];

    /** @param blockSize positions per KV block */
    public BatchLayout(int blockSize) {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("KV block size must be positive, got " + blockSize);
        }
        this.blockSize = blockSize;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Empties the layout for the next step. */
    public void clear() {
        sequences = 0;
        tokens = 0;
    }

    /**
     * Appends a sequence that runs {@code count} tokens from position {@code start}. {@code blockTable} must cover
     * positions {@code [0, start + count)}; it is referenced, not copied, and must not change until the step ran.
     */
    public void add(int start, int count, int[] blockTable) {
        add(start, count, blockTable, NO_STATE_SLOT);
    }

    /**
     * As {@link #add(int, int, int[])}, for a model whose recurrent layers (linear attention) keep a fixed-size state
     * per sequence besides its KV blocks: {@code stateSlot} names the slot the engine reserved for this sequence for
     * its whole life. A sequence whose {@code start} is 0 begins from an empty state, whatever the slot held before.
     */
    public void add(int start, int count, int[] blockTable, int stateSlot) {
        if (stateSlot < NO_STATE_SLOT) {
            throw new IllegalArgumentException("state slot must be >= 0 (or NO_STATE_SLOT), got " + stateSlot);
        }
        if (start < 0 || count <= 0) {
            throw new IllegalArgumentException("a sequence in a batch needs start >= 0 and count > 0, got start "
                    + start + " count " + count);
        }
        int blocksNeeded = (start + count + blockSize - 1) / blockSize;
        if (blockTable.length < blocksNeeded) {
            throw new IllegalArgumentException("block table of " + blockTable.length + " blocks cannot hold positions up to "
                    + (start + count) + " with blocks of " + blockSize);
        }
        if (sequences == tokenStart.length) {
            int n = sequences * 2;
            tokenStart = Arrays.copyOf(tokenStart, n);
            tokenCount = Arrays.copyOf(tokenCount, n);
            startPosition = Arrays.copyOf(startPosition, n);
            blockTables = Arrays.copyOf(blockTables, n);
            stateSlots = Arrays.copyOf(stateSlots, n);
        }
        if (tokens + count > positions.length) {
            int n = Math.max(tokens + count, positions.length * 2);
            sequenceOfToken = Arrays.copyOf(sequenceOfToken, n);
            positions = Arrays.copyOf(positions, n);
            slots = Arrays.copyOf(slots, n);
        }
        int s = sequences++;
        tokenStart[s] = tokens;
        tokenCount[s] = count;
        startPosition[s] = start;
        blockTables[s] = blockTable;
        stateSlots[s] = stateSlot;
        for (int i = 0; i < count; i++) {
            int p = start + i;
            sequenceOfToken[tokens] = s;
            positions[tokens] = p;
            slots[tokens] = blockTable[p / blockSize] * blockSize + p % blockSize;
            tokens++;
        }
    }

    public int sequenceCount() {
        return sequences;
    }

    /** Tokens of all sequences together: the row count of the step's activations. */
    public int tokenCount() {
        return tokens;
    }

    public int tokenStart(int sequence) {
        return tokenStart[check(sequence)];
    }

    public int tokenCount(int sequence) {
        return tokenCount[check(sequence)];
    }

    public int startPosition(int sequence) {
        return startPosition[check(sequence)];
    }

    public int[] blockTable(int sequence) {
        return blockTables[check(sequence)];
    }

    /** The recurrent-state slot of a sequence, or {@link #NO_STATE_SLOT} when none was given. */
    public int stateSlot(int sequence) {
        return stateSlots[check(sequence)];
    }

    /** The sequence that token row {@code token} belongs to. */
    public int sequenceOf(int token) {
        return sequenceOfToken[token];
    }

    /** The position of token row {@code token} within its sequence. */
    public int position(int token) {
        return positions[token];
    }

    /** The KV pool row of token row {@code token}. */
    public int slot(int token) {
        return slots[token];
    }

    /** The position of every token row, in an array of exactly {@link #tokenCount()} elements (reused). */
    public int[] positions() {
        if (exactPositions.length != tokens) {
            exactPositions = new int[tokens];
        }
        System.arraycopy(positions, 0, exactPositions, 0, tokens);
        return exactPositions;
    }

    /** The KV pool row of every token row, in an array of exactly {@link #tokenCount()} elements (reused). */
    public int[] slots() {
        if (exactSlots.length != tokens) {
            exactSlots = new int[tokens];
        }
        System.arraycopy(slots, 0, exactSlots, 0, tokens);
        return exactSlots;
    }

    /** The row of each sequence's last token, in a new array: where the logits of a step are read. */
    public int[] lastTokenRows() {
        int[] rows = new int[sequences];
        for (int s = 0; s < sequences; s++) {
            rows[s] = tokenStart[s] + tokenCount[s] - 1;
        }
        return rows;
    }

    private int check(int sequence) {
        if (sequence < 0 || sequence >= sequences) {
            throw new IndexOutOfBoundsException("sequence " + sequence + " of a batch of " + sequences);
        }
        return sequence;
    }
}

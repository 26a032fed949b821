package ai.parallax.runtime.scheduling;

import ai.parallax.runtime.kv.BlockAllocator;
import ai.parallax.runtime.kv.SequenceBlocks;
import java.util.Arrays;

/**
 * What the scheduler knows of one sequence: its tokens (prompt, then generated), how many of them already have keys
 * and values in the KV pool, and its block table. The engine appends tokens and advances {@link #computed()}; the
 * scheduler decides what runs next.
 */
public final class SequenceState {
    private final long id;
    private final int promptLength;
    private int[] tokens;
    private int length;
    private int computed;
    private final SequenceBlocks blocks;
    private int preemptions;

    public SequenceState(long id, int[] prompt, BlockAllocator allocator) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("sequence " + id + " has an empty prompt");
        }
        this.id = id;
        this.promptLength = prompt.length;
        this.tokens = Arrays.copyOf(prompt, prompt.length + 16);
        this.length = prompt.length;
        this.blocks = new SequenceBlocks(allocator);
    }

    /** Order of arrival: a larger id is a younger sequence. */
    public long id() {
        return id;
    }

    public int promptLength() {
        return promptLength;
    }

    /** Prompt and generated tokens; the array may be longer than {@link #length()}. */
    public int[] tokens() {
        return tokens;
    }

    public int length() {
        return length;
    }

    /** Tokens whose keys and values are in the pool: positions {@code [0, computed)}. */
    public int computed() {
        return computed;
    }

    /** Tokens still to run through the model before the next token can be sampled. */
    public int pending() {
        return length - computed;
    }

    public SequenceBlocks blocks() {
        return blocks;
    }

    public int preemptions() {
        return preemptions;
    }

    /** After a step ran {@code count} of its tokens. */
    public void advance(int count) {
        if (computed + count > length) {
            throw new IllegalStateException("sequence " + id + ": " + count + " tokens run from " + computed
                    + " but it has only " + length);
        }
        computed += count;
        blocks.publishFull(tokens, computed);
    }

    /** Appends a sampled token. */
    public void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length * 2);
        }
        tokens[length++] = token;
    }

    /** Reuses cached prefix blocks before the first step; returns the tokens they cover. */
    void matchPrefix() {
        computed = blocks.matchPrefix(tokens, length);
    }

    /** Drops every block: the sequence will be recomputed from its tokens when it runs again. */
    void evict() {
        blocks.releaseAll();
        computed = 0;
    }

    /** Drops every block and counts a pre-emption: the sequence is recomputed from its tokens when it runs again. */
    public void preempt() {
        evict();
        preemptions++;
    }

    /** Gives back the blocks of a finished or cancelled sequence. */
    public void release() {
        evict();
    }

    @Override
    public String toString() {
        return "sequence " + id + " (" + computed + "/" + length + " computed, " + blocks.count() + " blocks)";
    }
}

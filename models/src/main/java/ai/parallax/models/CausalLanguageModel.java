package ai.parallax.models;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;

/**
 * One pipeline stage of a decoder-only language model: the layers {@link #layers()} of it, plus the embedding when
 * it is the first stage and the final norm and LM head when it is the last. A whole model is the stage that holds
 * every layer.
 *
 * <p>Tensors returned by these methods belong to the model's workspace and stay valid until its next call. A model
 * instance serves one step at a time.
 */
public interface CausalLanguageModel extends AutoCloseable {

    ModelConfig config();

    LayerRange layers();

    /** Bytes of weights this stage holds. */
    long weightBytes();

    /** A KV cache for one sequence of up to {@code capacity} positions, for this stage's layers. */
    KvCache newKvCache(int capacity);

    /** A paged KV cache of {@code blockCount} blocks of {@code blockSize} positions, for this stage's layers. */
    KvCache newPagedKvCache(int blockCount, int blockSize);

    /**
     * A paged KV cache as {@link #newPagedKvCache(int, int)}, for at most {@code maxSequences} sequences at once. A
     * model whose layers keep a fixed-size state per sequence (linear attention) keeps it in that many slots, and
     * each sequence of a batch must name its slot ({@link BatchLayout#add(int, int, int[], int)}); other models
     * ignore {@code maxSequences}.
     */
    default KvCache newPagedKvCache(int blockCount, int blockSize, int maxSequences) {
        return newPagedKvCache(blockCount, blockSize);
    }

    /** The most positions this stage's rotary tables cover. */
    int maxPositions();

    /** First stage: the embeddings of {@code count} tokens, as the residual stream {@code [count, hidden]}. */
    Tensor embed(int[] tokens, int count);

    /**
     * A workspace buffer {@code [count, hidden]} that a later stage fills with the hidden states it receives, then
     * passes to {@link #forwardLayers}.
     */
    Tensor hiddenInput(int count);

    /**
     * Runs this stage's layers over the residual stream {@code hidden} ({@code [T, hidden]}, updated in place) for a
     * batch of sequences laid out as {@code batch} says ({@code T = batch.tokenCount()}), reading and extending
     * their blocks of {@code cache}. One step runs every weight as one matrix product over all T rows.
     */
    Tensor forwardLayers(Tensor hidden, BatchLayout batch, KvCache cache);

    /**
     * Runs this stage's layers for one sequence: tokens at positions {@code [startPos, startPos + T)}, with the
     * cache's blocks in order.
     */
    default Tensor forwardLayers(Tensor hidden, int startPos, KvCache cache) {
        return forwardLayers(hidden, cache.singleSequence(startPos, (int) hidden.rowCount()), cache);
    }

    /**
     * Last stage: logits {@code [rows, vocab]} from the residual stream {@code [T, hidden]}, for every token when
     * {@code allPositions}, else for the last token only. {@code hidden} is overwritten.
     */
    Tensor logits(Tensor hidden, boolean allPositions);

    /**
     * Last stage: logits {@code [rows.length, vocab]} of the given rows of the residual stream {@code [T, hidden]},
     * in that order (a batch's sequences each want the logits of their last token). {@code hidden} is unchanged.
     */
    Tensor logits(Tensor hidden, int[] rows);

    /** The whole model on {@code count} tokens: embed, every layer, logits. */
    default Tensor forward(int[] tokens, int count, int startPos, KvCache cache, boolean allPositions) {
        if (!layers().isWholeModel()) {
            throw new IllegalStateException("forward() needs the whole model; this stage holds layers " + layers());
        }
        Tensor hidden = embed(tokens, count);
        forwardLayers(hidden, startPos, cache);
        return logits(hidden, allPositions);
    }

    @Override
    void close();
}

package ai.parallax.runtime.engine;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

/** A whole model on this machine over a paged KV pool: embed, every layer, logits of the requested rows. */
public final class LocalStepRunner implements StepRunner {
    private final CausalLanguageModel model;
    private final Ops ops;
    private final KvCache cache;

    public LocalStepRunner(CausalLanguageModel model, Ops ops, int blockCount, int blockSize) {
        this(model, ops, blockCount, blockSize, 0);
    }

    /**
     * A runner over a pool of {@code blockCount} blocks, for at most {@code maxSequences} sequences in one step:
     * as many state slots as that, for a model that keeps state per sequence (linear attention's recurrent state,
     * sliding-window rings). With 0, the model's plain paged cache: full pools for every attention layer, and no
     * linear attention.
     */
    public LocalStepRunner(CausalLanguageModel model, Ops ops, int blockCount, int blockSize, int maxSequences) {
        if (!model.layers().isWholeModel()) {
            throw new IllegalArgumentException("a local step runner needs the whole model; got layers "
                    + model.layers());
        }
        this.model = model;
        this.ops = ops;
        this.cache = maxSequences == 0 ? model.newPagedKvCache(blockCount, blockSize)
                : model.newPagedKvCache(blockCount, blockSize, maxSequences);
    }

    @Override
    public int vocabularySize() {
        return model.config().vocabSize();
    }

    @Override
    public int maxPositions() {
        return model.maxPositions();
    }

    @Override
    public int sequenceSlots() {
        return cache.sequenceSlots();
    }

    @Override
    public void run(BatchLayout batch, int[] tokens, int[] logitRows, float[] logits) {
        Tensor hidden = model.embed(tokens, batch.tokenCount());
        model.forwardLayers(hidden, batch, cache);
        ops.copyToHost(model.logits(hidden, logitRows), logits, 0);
    }

    /** Frees the KV pool; the model stays open (its owner closes it). */
    @Override
    public void close() {
        cache.close();
    }
}

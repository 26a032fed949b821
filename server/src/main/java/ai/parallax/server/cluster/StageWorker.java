package ai.parallax.server.cluster;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.runtime.sampling.Sampler;
import ai.parallax.runtime.sampling.SamplingRule;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.runtime.sampling.TokenPicker;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One pipeline stage at work: its layers of the model and its own paged KV pool, whose blocks mirror the scheduler's
 * block tables, beside the state slots (recurrent state, sliding rings) the scheduler's engine names per sequence.
 * Steps arrive from the previous hop (network handlers, which must not block), run one at a time on this stage's
 * thread, and their output goes to the next hop: hidden states to the next stage, or logits (last stage) back to the
 * scheduler. A step that fails becomes a FAILED frame that travels on, so the scheduler learns of it.
 */
public final class StageWorker implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(StageWorker.class.getName());

    private final CausalLanguageModel model;
    private final Ops ops;
    private final KvCache cache;
    private final StepFrame.Payload activation;
    private final long epoch;
    private final BatchLayout layout;
    private final ExecutorService thread;
    private volatile Consumer<StepFrame> next;
    private volatile long lastStepNanos;
    /** The last stage's token picker, sized to the vocabulary on its first pick (stage thread only). */
    private TokenPicker picker;

    /**
     * @param sequenceSlots state slots for sequences running at once, as the single-machine engine's cache has them
     *                      (LocalStepRunner): linear-attention layers keep their recurrent state and sliding layers
     *                      a ring of their window in the slot each step's frame names, full-attention and MLA
     *                      layers use the paged pool; 0 when the model keeps no state per sequence (every attention
     *                      layer paged)
     */
    public StageWorker(CausalLanguageModel model, Ops ops, int blockCount, int blockSize, int sequenceSlots,
                       StepFrame.Payload activation, long epoch) {
        this.model = model;
        this.ops = ops;
        this.cache = sequenceSlots == 0 ? model.newPagedKvCache(blockCount, blockSize)
                : model.newPagedKvCache(blockCount, blockSize, sequenceSlots);
        this.activation = activation;
        this.epoch = epoch;
        this.layout = new BatchLayout(blockSize);
        this.thread = Executors.newSingleThreadExecutor(r -> Thread.ofPlatform().daemon()
                .name("parallax-stage-" + model.layers().start() + "-" + model.layers().end()).unstarted(r));
    }

    public CausalLanguageModel model() {
        return model;
    }

    public long epoch() {
        return epoch;
    }

    /**
     * Sequences this stage keeps state for (recurrent state of its linear-attention layers, rings of its sliding
     * layers), 0 when its layers keep everything in the paged pool.
     */
    public int sequenceSlots() {
        return cache.sequenceSlots();
    }

    /** Where this stage's output goes. */
    public void next(Consumer<StepFrame> hop) {
        this.next = hop;
    }

    /** Time the last step took on this stage, in nanoseconds. */
    public long lastStepNanos() {
        return lastStepNanos;
    }

    /** Queues a step; returns at once. */
    public void submit(StepFrame frame) {
        thread.execute(() -> next.accept(run(frame)));
    }

    /** Runs a step on the caller's thread and returns what goes to the next hop. */
    StepFrame run(StepFrame frame) {
        if (frame.kind != StepFrame.Kind.STEP) {
            return frame;
        }
        if (frame.epoch != epoch) {
            return StepFrame.failed(frame.epoch, frame.step, "stage " + model.layers() + " serves allocation "
                    + epoch + ", not " + frame.epoch);
        }
        long start = System.nanoTime();
        try {
            frame.fill(layout);
            Tensor hidden;
            if (model.layers().isFirst()) {
                if (frame.payload != StepFrame.Payload.TOKENS) {
                    throw new IllegalArgumentException("the first stage needs token ids, got " + frame.payload);
                }
                hidden = model.embed(frame.tokens, frame.rows);
            } else {
                int width = model.config().hiddenSize();
                if (frame.payload == StepFrame.Payload.TOKENS || frame.columns != width) {
                    throw new IllegalArgumentException("stage " + model.layers() + " needs hidden states of width "
                            + width + ", got " + frame.payload + " × " + frame.columns);
                }
                hidden = model.hiddenInput(frame.rows);
                ops.copyFromHost(frame.values, 0, hidden);
            }
            model.forwardLayers(hidden, layout, cache);
            StepFrame out;
            if (model.layers().isLast()) {
                out = output(frame, hidden);
            } else {
                float[] values = new float[frame.rows * model.config().hiddenSize()];
                ops.copyToHost(hidden, values, 0);
                out = frame.withHidden(activation, values, model.config().hiddenSize());
            }
            lastStepNanos = System.nanoTime() - start;
            return out;
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "step " + frame.step + " failed on stage " + model.layers(), e);
            return StepFrame.failed(frame.epoch, frame.step, "stage " + model.layers() + " failed: " + e);
        }
    }

    /**
     * The last stage's answer: each row's token picked by its rule where the step names one (only the id goes
     * back), the logits of the other rows.
     */
    private StepFrame output(StepFrame frame, Tensor hidden) {
        int vocab = model.config().vocabSize();
        int rows = frame.logitRows.length;
        float[] logits = new float[rows * vocab];
        ops.copyToHost(model.logits(hidden, frame.logitRows), logits, 0);
        if (frame.rules == null) {
            return frame.withLogits(logits, vocab);
        }
        if (picker == null) {
            picker = new TokenPicker(vocab);
        }
        int[] picked = new int[rows];
        TokenLogprob[] logprobs = new TokenLogprob[rows];
        int unpicked = 0;
        for (int r = 0; r < rows; r++) {
            SamplingRule rule = frame.rules[r];
            if (rule == null) {
                picked[r] = -1;
                System.arraycopy(logits, r * vocab, logits, unpicked++ * vocab, vocab); // compacted in row order
                continue;
            }
            picked[r] = picker.pick(logits, r * vocab, rule);
            if (rule.logprobs() >= 0) {
                logprobs[r] = Sampler.logprobs(logits, r * vocab, vocab, picked[r], rule.logprobs());
            }
        }
        return frame.withOutput(picked, logprobs, java.util.Arrays.copyOf(logits, unpicked * vocab), vocab);
    }

    /**
     * Stops this stage's thread and frees its KV pool. The layers stay loaded: they belong to the {@link StageHost},
     * which keeps them when the next allocation gives it the same range.
     *
     * @return false if a step was still running after 5 s (the model is then not safe to reuse)
     */
    public boolean stop() {
        thread.shutdownNow();
        boolean stopped = false;
        try {
            stopped = thread.awaitTermination(5, java.util.concurrent.TimeUnit.SECONDS); // a step uses the pool
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cache.close();
        return stopped;
    }

    /** Stops and also unloads the layers. */
    @Override
    public void close() {
        stop();
        model.close();
    }
}

package ai.parallax.server.cluster;

import ai.parallax.runtime.engine.KvStateLostException;
import ai.parallax.runtime.engine.StepRunner;
import ai.parallax.runtime.sampling.SamplingRule;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.tensors.ops.BatchLayout;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The engine's step runner in a cluster: sends each step's token ids and batch layout to the first stage of the
 * pipeline (on this machine or another), and waits for the last stage's logits. Hidden states travel from stage to
 * stage directly, never through here.
 *
 * <p>When the pipeline breaks (a stage died, a step failed or timed out) the runner reports it, so the scheduler
 * re-allocates, and throws {@link KvStateLostException}: the engine then replays every running sequence, and the
 * next step waits for the rebuilt pipeline. Only when none is ready within the recovery timeout do requests fail.
 * A pipeline rebuilt between two steps (the engine was sampling or idle when the re-allocation came) loses the KV
 * state just the same: the first step offered to it throws {@link KvStateLostException} before it is sent, so the
 * engine replays its running sequences and forgets its cached prefixes instead of reading empty KV blocks.
 */
public final class PipelineStepRunner implements StepRunner {
    /** Where a step enters the pipeline: a local stage or the link to a remote one. */
    public interface Entry {
        void send(StepFrame frame);
    }

    private final int vocabulary;
    private final int maxPositions;
    private final int sequenceSlots;
    private final Duration recoveryTimeout;
    private final Duration stepTimeout;
    private final Consumer<String> onBroken;
    private final Object lock = new Object();
    /** Step numbers, shared by every runner of the scheduler so that a returning frame names its runner. */
    private final AtomicLong steps;
    private Entry entry;
    private long epoch = -1;
    /**
     * The allocation whose stages hold the KV state (and state slots) of this runner's sequences: the last one a
     * step ran on, or -1 while no stage holds any (before the first step, after a broken one). Stages are made anew
     * on every allocation, with empty KV pools, so a step on another allocation would read keys and values never
     * written there.
     */
    private long stateEpoch = -1;
    private int blockOffset;
    private int slotOffset;
    private CompletableFuture<StepFrame> pending;
    private long pendingStep = -1;
    private int failuresInARow;
    private volatile long lastStepNanos;
    /** Exponentially weighted mean step time in milliseconds; NaN until a step has run. */
    private volatile double meanStepMillis = Double.NaN;

    /**
     * @param onBroken called (once per broken pipeline) with the reason, so the scheduler re-allocates
     */
    public PipelineStepRunner(int vocabulary, int maxPositions, Duration recoveryTimeout, Duration stepTimeout,
                              Consumer<String> onBroken) {
        this(vocabulary, maxPositions, 0, recoveryTimeout, stepTimeout, onBroken, new AtomicLong());
    }

    /**
     * @param sequenceSlots state slots the stages keep for this runner's sequences (the engine's max running), 0
     *                      when the model keeps no state per sequence ({@link #sequenceSlots()})
     * @param steps         the step counter, shared with the other runners whose answers arrive on the same node, so
     *                      that {@link #deliver} can be offered every frame and each runner takes only its own
     */
    public PipelineStepRunner(int vocabulary, int maxPositions, int sequenceSlots, Duration recoveryTimeout,
                              Duration stepTimeout, Consumer<String> onBroken, AtomicLong steps) {
        if (sequenceSlots < 0) {
            throw new IllegalArgumentException("state slots must be >= 0, got " + sequenceSlots);
        }
        this.steps = steps;
        this.vocabulary = vocabulary;
        this.maxPositions = maxPositions;
        this.sequenceSlots = sequenceSlots;
        this.recoveryTimeout = recoveryTimeout;
        this.stepTimeout = stepTimeout;
        this.onBroken = onBroken;
    }

    /** A pipeline for allocation {@code epoch} is loaded and ready. */
    public void activate(long epoch, Entry entry) {
        activate(epoch, entry, 0, 0);
    }

    /**
     * A pipeline for allocation {@code epoch} is ready; this runner's sequences use the stages' KV blocks from
     * {@code blockOffset} on and their state slots from {@code slotOffset} on (several runners may share one
     * pipeline's stages while the cluster is short of nodes).
     */
    public void activate(long epoch, Entry entry, int blockOffset, int slotOffset) {
        synchronized (lock) {
            this.epoch = epoch;
            this.entry = entry;
            this.blockOffset = blockOffset;
            this.slotOffset = slotOffset;
            lock.notifyAll();
        }
    }

    /** The pipeline is gone (a node died or is being re-allocated); steps wait for the next one. */
    public void deactivate(String reason) {
        CompletableFuture<StepFrame> p;
        synchronized (lock) {
            entry = null;
            p = pending;
        }
        if (p != null) {
            p.completeExceptionally(new IllegalStateException(reason));
        }
    }

    /** The allocation this runner's pipeline belongs to (the last one activated). */
    public long epoch() {
        synchronized (lock) {
            return epoch;
        }
    }

    public boolean isActive() {
        synchronized (lock) {
            return entry != null;
        }
    }

    /** Mean wall time of recent steps in milliseconds, or NaN before the first step. */
    public double meanStepMillis() {
        return meanStepMillis;
    }

    /** A frame from the last stage: the logits of a step, or the news that it failed. Others' frames are ignored. */
    public void deliver(StepFrame frame) {
        CompletableFuture<StepFrame> p;
        synchronized (lock) {
            if (frame.epoch != epoch || frame.step != pendingStep) {
                return; // a late answer from a pipeline or step already given up
            }
            p = pending;
        }
        if (p != null) {
            p.complete(frame);
        }
    }

    /** Wall time of the last step, in nanoseconds. */
    public long lastStepNanos() {
        return lastStepNanos;
    }

    @Override
    public int vocabularySize() {
        return vocabulary;
    }

    @Override
    public int maxPositions() {
        return maxPositions;
    }

    /**
     * The state slots the stages keep for this runner: the engine names one per running sequence, and the frame
     * carries it to every stage, where the stage holding linear-attention or sliding layers keeps that sequence's
     * recurrent state or ring in it.
     */
    @Override
    public int sequenceSlots() {
        return sequenceSlots;
    }

    @Override
    public void run(BatchLayout batch, int[] tokens, int[] logitRows, float[] logits) {
        run(batch, tokens, logitRows, null, null, null, logits);
    }

    /** The last stage picks the tokens: only their ids (and logprobs when asked) come back. */
    @Override
    public boolean picksTokens() {
        return true;
    }

    @Override
    public void run(BatchLayout batch, int[] tokens, int[] logitRows, SamplingRule[] rules, int[] picked,
                    TokenLogprob[] logprobs, float[] logits) {
        long start = System.nanoTime();
        Entry target;
        StepFrame frame;
        CompletableFuture<StepFrame> answer = new CompletableFuture<>();
        synchronized (lock) {
            long deadline = System.nanoTime() + recoveryTimeout.toNanos();
            while (entry == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException("no pipeline could be built within the recovery timeout of "
                            + recoveryTimeout.toSeconds() + " s: the nodes alive cannot hold the model");
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for a pipeline", e);
                }
            }
            target = entry;
            if (stateEpoch != -1 && stateEpoch != epoch) {
                long was = stateEpoch;
                stateEpoch = -1;
                throw new KvStateLostException("the pipeline was rebuilt (allocation " + was + " -> " + epoch
                        + "): its stages hold none of this engine's KV state");
            }
            stateEpoch = epoch;
            frame = StepFrame.tokens(epoch, steps.getAndIncrement(), batch, tokens, logitRows, rules, blockOffset,
                    slotOffset);
            pending = answer;
            pendingStep = frame.step;
        }
        StepFrame result;
        try {
            target.send(frame);
            result = answer.get(stepTimeout.toMillis(), TimeUnit.MILLISECONDS);
            if (result.kind == StepFrame.Kind.FAILED) {
                throw new IllegalStateException(result.error);
            }
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
            String reason = e instanceof TimeoutException ? "step " + frame.step + " got no answer within "
                    + stepTimeout.toSeconds() + " s" : String.valueOf(cause.getMessage());
            synchronized (lock) {
                pending = null;
                stateEpoch = -1; // the engine replays from position 0 on whatever pipeline comes next
                if (entry == target) {
                    entry = null;
                }
            }
            onBroken.accept(reason);
            if (++failuresInARow > 3) {
                failuresInARow = 0;
                throw new IllegalStateException("the pipeline failed 4 times in a row; last: " + reason, cause);
            }
            throw new KvStateLostException("the pipeline broke: " + reason, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during a pipeline step", e);
        } finally {
            synchronized (lock) {
                if (pending == answer) {
                    pending = null;
                }
            }
        }
        failuresInARow = 0;
        if (result.kind != StepFrame.Kind.OUTPUT || result.columns != vocabulary
                || result.picked.length != logitRows.length) {
            throw new IllegalStateException("the last stage returned " + result.kind + " of " + result.picked.length
                    + " rows × " + result.columns + ", expected " + logitRows.length + " rows of " + vocabulary);
        }
        int unpicked = 0;
        for (int r = 0; r < logitRows.length; r++) {
            int token = result.picked[r];
            boolean wanted = rules != null && rules[r] != null;
            if (wanted != token >= 0) {
                throw new IllegalStateException("the last stage " + (token >= 0 ? "picked" : "did not pick")
                        + " the token of row " + r + (wanted ? " it was asked to" : " it was not asked to"));
            }
            if (wanted) {
                picked[r] = token;
                logprobs[r] = result.pickedLogprobs[r];
            } else {
                if (picked != null) {
                    picked[r] = -1;
                }
                System.arraycopy(result.values, unpicked++ * vocabulary, logits, r * vocabulary, vocabulary);
            }
        }
        long took = System.nanoTime() - start;
        lastStepNanos = took;
        double mean = meanStepMillis;
        meanStepMillis = Double.isNaN(mean) ? took / 1e6 : 0.8 * mean + 0.2 * took / 1e6;
    }

    @Override
    public void close() {
        deactivate("the server is shutting down");
    }
}

package ai.parallax.runtime.engine;

import ai.parallax.models.tokenizer.StreamingDetokenizer;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.GenerationResult.FinishReason;
import ai.parallax.runtime.StopStringMatcher;
import ai.parallax.runtime.engine.RequestRejectedException.Reason;
import ai.parallax.runtime.kv.BlockAllocator;
import ai.parallax.runtime.kv.StateSlotAllocator;
import ai.parallax.runtime.sampling.Sampler;
import ai.parallax.runtime.sampling.SamplingRule;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.runtime.scheduling.SequenceState;
import ai.parallax.runtime.scheduling.StepPlan;
import ai.parallax.runtime.scheduling.StepScheduler;
import ai.parallax.tensors.ops.BatchLayout;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Continuous batching over a paged KV cache. Any thread may {@link #submit} and cancel; one engine thread runs the
 * step loop:
 *
 * <pre>
 * take new requests and cancellations → plan the step (StepScheduler) → run it as one batch (StepRunner)
 *   → sample each sequence that reached its end → stream text, stop, finish → repeat
 * </pre>
 *
 * Requests join and leave between any two steps. The decisions (what runs, what is pre-empted, which blocks hold
 * what) are the pure {@link StepScheduler} and {@link BlockAllocator}; this class only carries them out.
 */
public final class InferenceEngine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(InferenceEngine.class.getName());

    private final StepRunner runner;
    private final Tokenizer tokenizer;
    private final Set<Integer> eosTokenIds;
    private final EngineConfig config;
    private final BlockAllocator allocator;
    private final StepScheduler scheduler;
    private final int vocab;
    private final int contextLimit;

    /** The rule of the row a step of prompt chunks only must still name: greedy, and its token is ignored. */
    private static final SamplingRule IGNORED_ROW = new SamplingRule(0, 0, 1, 0, 0, -1);

    private final LinkedBlockingQueue<Object> commands = new LinkedBlockingQueue<>();
    private final AtomicLong nextId = new AtomicLong();
    private final AtomicInteger queued = new AtomicInteger();
    private volatile EngineStats stats;
    private volatile boolean closing;
    private Thread thread;

    // Engine-thread state.
    private final List<SequenceState> running = new ArrayList<>();
    private final ArrayDeque<SequenceState> waiting = new ArrayDeque<>();
    private final Map<Long, ActiveRequest> active = new HashMap<>();
    private final BatchLayout layout;
    private final StateSlotAllocator stateSlots; // null unless the model keeps a recurrent state per sequence
    private int[] stepTokens = new int[256];
    private float[] logits;
    /** Per logit row of a step, when the runner picks tokens: the rule sent, the token and logprobs back. */
    private SamplingRule[] rules = new SamplingRule[0];
    private int[] picked = new int[0];
    private TokenLogprob[] pickedLogprobs = new TokenLogprob[0];
    private long preemptions;
    private long promptTokens;
    private long generatedTokens;
    private long steps;
    private long completed;
    private long cancelled;
    private long failed;

    /**
     * @param tokenizer   decodes the output; null streams ids only (empty text)
     * @param eosTokenIds the model's end-of-sequence ids
     */
    public InferenceEngine(StepRunner runner, Tokenizer tokenizer, Set<Integer> eosTokenIds, EngineConfig config) {
        this.runner = runner;
        this.tokenizer = tokenizer;
        this.eosTokenIds = Set.copyOf(eosTokenIds);
        this.config = config;
        int slots = runner.sequenceSlots();
        if (slots > 0 && slots < config.maxRunning()) {
            throw new IllegalArgumentException("the model keeps state for " + slots + " sequences at once, fewer than"
                    + " the engine's max running " + config.maxRunning());
        }
        this.allocator = new BlockAllocator(config.blockCount(), config.blockSize(), slots == 0);
        this.stateSlots = slots > 0 ? new StateSlotAllocator(slots) : null;
        this.scheduler = new StepScheduler(config.maxPrefillChunk(), config.maxRunning());
        this.vocab = runner.vocabularySize();
        this.contextLimit = Math.min(runner.maxPositions(), config.capacityPositions());
        this.layout = new BatchLayout(config.blockSize());
        this.logits = new float[vocab * 8];
        publishStats();
    }

    /** Starts the engine thread. */
    public synchronized InferenceEngine start() {
        if (thread == null) {
            thread = Thread.ofPlatform().name("parallax-engine").daemon().start(this::loop);
        }
        return this;
    }

    public EngineConfig config() {
        return config;
    }

    /** The longest sequence (prompt plus output) a request may reach: the model's context or the KV pool. */
    public int contextLimit() {
        return contextLimit;
    }

    /** The latest snapshot, taken after every step. */
    public EngineStats stats() {
        return stats;
    }

    /**
     * Queues a request. The listener is called on the engine thread.
     *
     * @throws RequestRejectedException when the queue is full, the prompt is too long or holds a bad token id
     */
    public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
        if (closing) {
            throw new RequestRejectedException(Reason.CLOSED, "the engine is shutting down");
        }
        int[] prompt = request.promptIds();
        for (int id : prompt) {
            if (id < 0 || id >= vocab) {
                throw new RequestRejectedException(Reason.INVALID, "prompt token id " + id
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (prompt.length >= contextLimit) {
            throw new RequestRejectedException(Reason.CONTEXT_LENGTH_EXCEEDED, "the prompt has " + prompt.length
                    + " tokens but at most " + (contextLimit - 1) + " fit (context of " + contextLimit
                    + " positions, one of which the first generated token needs)");
        }
        if (queued.incrementAndGet() > config.maxQueue()) {
            queued.decrementAndGet();
            throw new RequestRejectedException(Reason.QUEUE_FULL, config.maxQueue()
                    + " requests are already waiting; try again later");
        }
        long id = nextId.getAndIncrement();
        commands.add(new Submit(id, request, listener));
        return new RequestHandle(id, this);
    }

    void cancel(long id) {
        commands.add(new Cancel(id));
    }

    @Override
    public void close() {
        closing = true;
        Thread t;
        synchronized (this) {
            t = thread;
        }
        if (t != null) {
            commands.add(new Shutdown());
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        runner.close();
    }

    private record Submit(long id, GenerationRequest request, GenerationListener listener) {
    }

    private record Cancel(long id) {
    }

    private record Shutdown() {
    }

    private void loop() {
        try {
            while (true) {
                boolean idle = running.isEmpty() && waiting.isEmpty();
                Object command = idle ? commands.poll(1, TimeUnit.SECONDS) : commands.poll();
                boolean shutdown = false;
                while (command != null) {
                    shutdown |= handle(command);
                    command = commands.poll();
                }
                if (shutdown) {
                    failAll(new RequestRejectedException(Reason.CLOSED, "the engine shut down"));
                    return;
                }
                if (!running.isEmpty() || !waiting.isEmpty()) {
                    step();
                }
                publishStats();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            LOG.log(Level.SEVERE, "engine thread failed", t);
            failAll(t);
        }
    }

    /** Applies one command; returns true on shutdown. */
    private boolean handle(Object command) {
        switch (command) {
            case Submit s -> {
                queued.decrementAndGet();
                ActiveRequest r = new ActiveRequest(s.id(), s.request(), s.listener());
                active.put(s.id(), r);
                waiting.addLast(r.sequence);
                if (r.maxTokens <= 0) {
                    finish(r, FinishReason.LENGTH);
                }
            }
            case Cancel c -> {
                ActiveRequest r = active.get(c.id());
                if (r != null) {
                    finish(r, FinishReason.CANCELLED);
                }
            }
            case Shutdown ignored -> {
                return true;
            }
            default -> throw new IllegalStateException("unknown command " + command);
        }
        return false;
    }

    private void step() {
        StepPlan plan = scheduler.schedule(running, waiting);
        preemptions += plan.preempted().size();
        for (SequenceState s : plan.preempted()) {
            LOG.fine(() -> "pre-empted " + s + ": the KV pool is full");
            releaseStateSlot(s);
        }
        if (plan.isEmpty()) {
            return;
        }
        layout.clear();
        int total = plan.tokenCount();
        if (stepTokens.length < total) {
            stepTokens = new int[Math.max(total, stepTokens.length * 2)];
        }
        int samplers = 0;
        int at = 0;
        for (StepPlan.Entry e : plan.entries()) {
            layout.add(e.start(), e.count(), e.sequence().blocks().table(),
                    stateSlots == null ? BatchLayout.NO_STATE_SLOT : stateSlots.slotOf(e.sequence().id()));
            System.arraycopy(e.sequence().tokens(), e.start(), stepTokens, at, e.count());
            at += e.count();
            if (e.samples()) {
                samplers++;
            }
        }
        int[] logitRows = new int[samplers];
        boolean picking = runner.picksTokens();
        if (picking && rules.length < Math.max(1, samplers)) {
            rules = new SamplingRule[Math.max(1, samplers)];
            picked = new int[rules.length];
            pickedLogprobs = new TokenLogprob[rules.length];
        }
        int r = 0;
        for (int s = 0; s < plan.entries().size(); s++) {
            StepPlan.Entry e = plan.entries().get(s);
            if (e.samples()) {
                if (picking) {
                    // Picked where the logits are, unless penalties need this sequence's history.
                    ActiveRequest req = active.get(e.sequence().id());
                    rules[r] = req.sampler.penalises() ? null : req.sampler.rule(req.request.logprobs());
                }
                logitRows[r++] = layout.tokenStart(s) + layout.tokenCount(s) - 1;
            }
        }
        if (logits.length < samplers * vocab) {
            logits = new float[samplers * vocab];
        }
        try {
            if (samplers == 0) {
                // Every sequence is mid-prompt: no logits are needed, but the runner wants at least one row.
                if (picking) {
                    rules[0] = IGNORED_ROW;
                    runner.run(layout, stepTokens, new int[] {total - 1}, rules, picked, pickedLogprobs, logits);
                } else {
                    runner.run(layout, stepTokens, new int[] {total - 1}, logits);
                }
            } else if (picking) {
                runner.run(layout, stepTokens, logitRows, rules, picked, pickedLogprobs, logits);
            } else {
                runner.run(layout, stepTokens, logitRows, logits);
            }
        } catch (KvStateLostException e) {
            LOG.log(Level.WARNING, "the runner lost its KV state (" + e.getMessage() + "); recomputing "
                    + running.size() + " running sequences");
            for (int i = running.size() - 1; i >= 0; i--) {
                SequenceState s = running.get(i);
                releaseStateSlot(s);
                s.preempt();
                waiting.addFirst(s);
                preemptions++;
            }
            running.clear();
            allocator.forgetPrefixes();
            return;
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "a step of " + total + " tokens failed", e);
            for (StepPlan.Entry entry : plan.entries()) {
                ActiveRequest req = active.get(entry.sequence().id());
                if (req != null) {
                    fail(req, e);
                }
            }
            return;
        }
        steps++;
        r = 0;
        for (StepPlan.Entry e : plan.entries()) {
            ActiveRequest req = active.get(e.sequence().id());
            e.sequence().advance(e.count());
            if (req.firstStepNanos == 0) {
                req.firstStepNanos = System.nanoTime();
            }
            if (e.samples()) {
                if (picking && rules[r] != null) {
                    acceptPicked(req, picked[r], pickedLogprobs[r]);
                    pickedLogprobs[r] = null;
                    r++;
                } else {
                    sampleNext(req, r++);
                }
            }
        }
    }

    private void sampleNext(ActiveRequest r, int row) {
        int offset = row * vocab;
        int token = r.sampler.sample(logits, offset);
        TokenLogprob logprob = r.request.logprobs() >= 0 && !r.stopIds.contains(token)
                ? Sampler.logprobs(logits, offset, vocab, token, r.request.logprobs()) : null;
        acceptPicked(r, token, logprob);
    }

    /** Takes a sequence's next token, picked here from its logits or by the runner. */
    private void acceptPicked(ActiveRequest r, int token, TokenLogprob logprob) {
        if (r.prefillEndNanos == 0) {
            r.prefillEndNanos = System.nanoTime();
            promptTokens += r.sequence.promptLength();
        }
        if (token < 0 || token >= vocab) {
            fail(r, new IllegalStateException("the runner picked token " + token + ", outside the vocabulary [0, "
                    + vocab + ")"));
            return;
        }
        if (r.stopIds.contains(token)) {
            finish(r, FinishReason.STOP);
            return;
        }
        r.sampler.accept(token);
        r.sequence.append(token);
        generatedTokens++;
        if (logprob != null) {
            r.logprobs.add(logprob);
        }
        String piece = r.detokenizer == null ? "" : r.stops.append(r.detokenizer.next(token));
        r.text.append(piece);
        if (!notify(r, token, piece, logprob)) {
            return;
        }
        if (r.stops.stopped()) {
            finish(r, FinishReason.STOP);
        } else if (r.generatedCount() >= r.maxTokens) {
            finish(r, FinishReason.LENGTH);
        }
    }

    /** Calls the listener; a listener that throws has lost its client, so its request is cancelled. */
    private boolean notify(ActiveRequest r, int token, String piece, TokenLogprob logprob) {
        try {
            r.listener.onToken(token, piece, logprob);
            return true;
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "listener of request " + r.id + " failed; cancelling it", e);
            finish(r, FinishReason.CANCELLED);
            return false;
        }
    }

    private void finish(ActiveRequest r, FinishReason reason) {
        if (active.remove(r.id) == null) {
            return;
        }
        removeSequence(r);
        if (reason != FinishReason.CANCELLED && r.detokenizer != null && !r.stops.stopped()) {
            String tail = r.stops.append(r.detokenizer.flush());
            tail += r.stops.flush();
            if (r.stops.stopped()) {
                reason = FinishReason.STOP;
            }
            if (!tail.isEmpty()) {
                r.text.append(tail);
                try {
                    r.listener.onToken(-1, tail, null);
                } catch (RuntimeException e) {
                    reason = FinishReason.CANCELLED;
                }
            }
        }
        if (reason == FinishReason.CANCELLED) {
            cancelled++;
        } else {
            completed++;
        }
        long end = System.nanoTime();
        long prefillEnd = r.prefillEndNanos == 0 ? end : r.prefillEndNanos;
        int[] ids = Arrays.copyOfRange(r.sequence.tokens(), r.sequence.promptLength(), r.sequence.length());
        GenerationResult result = new GenerationResult(r.request.promptIds(), ids, r.text.toString(), reason,
                r.logprobs == null ? null : List.copyOf(r.logprobs),
                new GenerationResult.Timings(r.sequence.promptLength(), prefillEnd - r.submittedNanos, ids.length,
                        end - prefillEnd));
        try {
            r.listener.onComplete(result);
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "listener of request " + r.id + " failed on completion", e);
        }
    }

    private void fail(ActiveRequest r, Throwable error) {
        if (active.remove(r.id) == null) {
            return;
        }
        removeSequence(r);
        failed++;
        try {
            r.listener.onFailure(error);
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "listener of request " + r.id + " failed on failure", e);
        }
    }

    private void releaseStateSlot(SequenceState s) {
        if (stateSlots != null) {
            stateSlots.release(s.id());
        }
    }

    private void removeSequence(ActiveRequest r) {
        releaseStateSlot(r.sequence);
        running.remove(r.sequence);
        waiting.remove(r.sequence);
        r.sequence.release();
    }

    private void failAll(Throwable error) {
        for (ActiveRequest r : new ArrayList<>(active.values())) {
            fail(r, error);
        }
        Object command;
        while ((command = commands.poll()) != null) {
            if (command instanceof Submit s) {
                queued.decrementAndGet();
                s.listener().onFailure(error);
            }
        }
    }

    private void publishStats() {
        stats = new EngineStats(waiting.size() + queued.get(), running.size(), allocator.inUse(),
                allocator.blockCount(), allocator.cachedBlocks(), allocator.blockSize(), allocator.prefixHitBlocks(),
                preemptions, promptTokens, generatedTokens, steps, completed, cancelled, failed);
    }

    /** One request's generation state, owned by the engine thread. */
    private final class ActiveRequest {
        final long id;
        final GenerationRequest request;
        final GenerationListener listener;
        final SequenceState sequence;
        final Sampler sampler;
        final StopStringMatcher stops;
        final StreamingDetokenizer detokenizer;
        final Set<Integer> stopIds;
        final int maxTokens;
        final List<TokenLogprob> logprobs;
        final StringBuilder text = new StringBuilder();
        final long submittedNanos = System.nanoTime();
        long firstStepNanos;
        long prefillEndNanos;

        ActiveRequest(long id, GenerationRequest request, GenerationListener listener) {
            this.id = id;
            this.request = request;
            this.listener = listener;
            int[] prompt = request.promptIds();
            this.sequence = new SequenceState(id, prompt, allocator);
            this.sampler = new Sampler(request.sampling(), vocab);
            sampler.acceptPrompt(prompt, prompt.length);
            this.stops = new StopStringMatcher(request.stopStrings());
            this.detokenizer = tokenizer == null ? null : tokenizer.streamingDetokenizer();
            Set<Integer> ids = new HashSet<>(request.stopTokenIds());
            if (!request.ignoreEos()) {
                ids.addAll(eosTokenIds);
            }
            this.stopIds = ids;
            this.maxTokens = Math.min(request.maxTokens(), contextLimit - prompt.length);
            this.logprobs = request.logprobs() >= 0 ? new ArrayList<>() : null;
        }

        int generatedCount() {
            return sequence.length() - sequence.promptLength();
        }
    }
}

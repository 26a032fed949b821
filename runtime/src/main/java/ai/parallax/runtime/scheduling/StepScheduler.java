package ai.parallax.runtime.scheduling;

import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Decides each step of continuous batching: which running sequences advance, which waiting ones join, and which are
 * pre-empted when the KV pool runs out. A pure decision over the lists it is given: no threads, no clock.
 *
 * <p>The policy, in order:
 * <ol>
 *   <li>Every running sequence that is decoding runs its one token. Sequences still in their prompt run a chunk,
 *       and all prompt chunks of a step share a budget of {@code maxPrefillChunk} tokens, so a long prompt never
 *       stalls the other users' decodes by more than one chunk.</li>
 *   <li>When a running sequence needs a block and none is left, the youngest running sequence is pre-empted: its
 *       blocks are freed and it goes back to the front of the queue, to be recomputed from its tokens later
 *       (cheaply, when its prefix blocks are still cached).</li>
 *   <li>Waiting sequences are admitted in arrival order while the prompt budget, the running limit and the pool
 *       allow. When the pool cannot take the next one, admission waits; nothing is admitted in a step that had to
 *       pre-empt.</li>
 * </ol>
 */
public final class StepScheduler {
    private final int maxPrefillChunk;
    private final int maxRunning;

    public StepScheduler(int maxPrefillChunk, int maxRunning) {
        if (maxPrefillChunk <= 0 || maxRunning <= 0) {
            throw new IllegalArgumentException("max prefill chunk and max running sequences must be positive, got "
                    + maxPrefillChunk + " and " + maxRunning);
        }
        this.maxPrefillChunk = maxPrefillChunk;
        this.maxRunning = maxRunning;
    }

    /**
     * Plans the next step. {@code running} (oldest first) and {@code waiting} (next first) are updated in place:
     * pre-empted sequences move from running to the front of waiting, admitted ones from waiting to the end of
     * running.
     */
    public StepPlan schedule(List<SequenceState> running, Deque<SequenceState> waiting) {
        List<StepPlan.Entry> entries = new ArrayList<>();
        List<SequenceState> preempted = new ArrayList<>();
        List<SequenceState> admitted = new ArrayList<>();
        int prefillBudget = maxPrefillChunk;

        for (int i = 0; i < running.size(); i++) {
            SequenceState s = running.get(i);
            int pending = s.pending();
            boolean decoding = pending == 1 && s.computed() > 0;
            int count = decoding ? 1 : Math.min(pending, prefillBudget);
            if (count == 0) {
                continue;
            }
            boolean selfPreempted = false;
            while (!s.blocks().ensureCapacity(s.computed() + count)) {
                SequenceState victim = running.removeLast();
                victim.preempt();
                waiting.addFirst(victim);
                preempted.add(victim);
                if (victim == s) {
                    selfPreempted = true;
                    break;
                }
            }
            if (selfPreempted) {
                break;
            }
            if (!decoding) {
                prefillBudget -= count;
            }
            entries.add(new StepPlan.Entry(s, s.computed(), count, s.computed() + count == s.length()));
        }

        while (preempted.isEmpty() && !waiting.isEmpty() && running.size() < maxRunning && prefillBudget > 0) {
            SequenceState s = waiting.peekFirst();
            s.matchPrefix();
            int count = Math.min(s.pending(), prefillBudget);
            if (!s.blocks().ensureCapacity(s.computed() + count)) {
                s.evict();
                break;
            }
            waiting.removeFirst();
            running.add(s);
            admitted.add(s);
            prefillBudget -= count;
            entries.add(new StepPlan.Entry(s, s.computed(), count, s.computed() + count == s.length()));
        }
        return new StepPlan(List.copyOf(entries), List.copyOf(preempted), List.copyOf(admitted));
    }
}

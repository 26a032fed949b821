package ai.parallax.runtime.scheduling;

import java.util.List;

/**
 * What one engine step runs: for each scheduled sequence, its tokens {@code [start, start + count)}; and the
 * sequences the scheduler pre-empted or admitted to make that plan.
 */
public record StepPlan(List<Entry> entries, List<SequenceState> preempted, List<SequenceState> admitted) {

    /**
     * One sequence's part of the step.
     *
     * @param samples whether this chunk reaches the end of the sequence's tokens, so a next token is sampled
     */
    public record Entry(SequenceState sequence, int start, int count, boolean samples) {
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    public int tokenCount() {
        int n = 0;
        for (Entry e : entries) {
            n += e.count();
        }
        return n;
    }
}

package ai.parallax.runtime.scheduling;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.runtime.kv.BlockAllocator;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StepSchedulerTest {

    private static int[] prompt(int length, int seed) {
        int[] p = new int[length];
        for (int i = 0; i < length; i++) {
            p[i] = seed * 1000 + i;
        }
        return p;
    }

    /** Runs a plan as the engine would: advance, and append a token to each sequence that samples. */
    private static void execute(StepPlan plan) {
        for (StepPlan.Entry e : plan.entries()) {
            e.sequence().advance(e.count());
            if (e.samples()) {
                e.sequence().append(7);
            }
        }
    }

    @Test
    void longPromptIsChunkedWhileDecodesKeepRunning() {
        BlockAllocator pool = new BlockAllocator(100, 4);
        StepScheduler scheduler = new StepScheduler(8, 16);
        List<SequenceState> running = new ArrayList<>();
        ArrayDeque<SequenceState> waiting = new ArrayDeque<>();
        SequenceState shortOne = new SequenceState(0, prompt(3, 0), pool);
        waiting.add(shortOne);
        execute(scheduler.schedule(running, waiting)); // prefill of 3, samples
        SequenceState longOne = new SequenceState(1, prompt(20, 1), pool);
        waiting.add(longOne);

        StepPlan step = scheduler.schedule(running, waiting);
        assertThat(step.entries()).extracting(StepPlan.Entry::count).containsExactly(1, 8);
        assertThat(step.entries().get(1).samples()).isFalse();
        execute(step);
        step = scheduler.schedule(running, waiting);
        assertThat(step.entries()).extracting(StepPlan.Entry::count).containsExactly(1, 8);
        execute(step);
        step = scheduler.schedule(running, waiting);
        assertThat(step.entries()).extracting(StepPlan.Entry::count).containsExactly(1, 4);
        assertThat(step.entries().get(1).samples()).isTrue();
        execute(step);
        assertThat(longOne.computed()).isEqualTo(20);
        assertThat(longOne.length()).isEqualTo(21);
    }

    @Test
    void admissionWaitsWhenThePoolCannotHoldThePrompt() {
        BlockAllocator pool = new BlockAllocator(4, 4);
        StepScheduler scheduler = new StepScheduler(64, 16);
        List<SequenceState> running = new ArrayList<>();
        ArrayDeque<SequenceState> waiting = new ArrayDeque<>();
        waiting.add(new SequenceState(0, prompt(10, 0), pool)); // 3 blocks
        waiting.add(new SequenceState(1, prompt(10, 1), pool)); // 3 more: does not fit
        StepPlan plan = scheduler.schedule(running, waiting);
        assertThat(plan.admitted()).extracting(SequenceState::id).containsExactly(0L);
        assertThat(waiting).extracting(SequenceState::id).containsExactly(1L);
        assertThat(waiting.peek().blocks().count()).as("a waiting sequence holds no blocks").isZero();
        assertThat(pool.inUse()).isEqualTo(3);
    }

    @Test
    void theYoungestSequenceIsPreemptedWhenDecodingRunsOutOfBlocks() {
        BlockAllocator pool = new BlockAllocator(4, 4);
        StepScheduler scheduler = new StepScheduler(64, 16);
        List<SequenceState> running = new ArrayList<>();
        ArrayDeque<SequenceState> waiting = new ArrayDeque<>();
        SequenceState old = new SequenceState(0, prompt(8, 0), pool);
        SequenceState young = new SequenceState(1, prompt(8, 1), pool);
        waiting.add(old);
        waiting.add(young);
        execute(scheduler.schedule(running, waiting)); // both prefilled: 4 blocks, both at length 9 now
        assertThat(pool.available()).isZero();

        StepPlan plan = scheduler.schedule(running, waiting);
        assertThat(plan.preempted()).containsExactly(young);
        assertThat(plan.entries()).extracting(StepPlan.Entry::sequence).containsExactly(old);
        assertThat(waiting.peekFirst()).isSameAs(young);
        assertThat(young.computed()).isZero();
        assertThat(young.length()).as("its tokens are kept for the recompute").isEqualTo(9);
        assertThat(plan.admitted()).as("no admission in a step that pre-empted").isEmpty();
    }

    @Test
    void aPreemptedSequenceResumesFromItsCachedPrefix() {
        BlockAllocator pool = new BlockAllocator(6, 4);
        StepScheduler scheduler = new StepScheduler(64, 16);
        List<SequenceState> running = new ArrayList<>();
        ArrayDeque<SequenceState> waiting = new ArrayDeque<>();
        SequenceState s = new SequenceState(0, prompt(9, 0), pool);
        waiting.add(s);
        execute(scheduler.schedule(running, waiting));
        running.remove(s);
        s.preempt();
        waiting.add(s);
        StepPlan plan = scheduler.schedule(running, waiting);
        assertThat(plan.entries()).hasSize(1);
        assertThat(plan.entries().getFirst().start()).as("two full blocks come back from the prefix cache")
                .isEqualTo(8);
        assertThat(plan.entries().getFirst().count()).isEqualTo(2);
    }

    @Test
    void runningLimitCapsTheBatch() {
        BlockAllocator pool = new BlockAllocator(100, 4);
        StepScheduler scheduler = new StepScheduler(64, 2);
        List<SequenceState> running = new ArrayList<>();
        ArrayDeque<SequenceState> waiting = new ArrayDeque<>();
        for (int i = 0; i < 5; i++) {
            waiting.add(new SequenceState(i, prompt(3, i), pool));
        }
        StepPlan plan = scheduler.schedule(running, waiting);
        assertThat(plan.admitted()).hasSize(2);
        assertThat(waiting).hasSize(3);
    }
}

package ai.parallax.runtime.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** How the benchmark turns two readings of per-thread allocation counters into bytes allocated in between. */
class AllocationCountTest {

    @Test
    void threadsAliveAtBothReadingsCountTheirGrowth() {
        assertThat(ModelBenchmark.allocatedBetween(new long[] {100, 5_000}, new long[] {164, 5_016})).isEqualTo(80);
    }

    @Test
    void threadThatEndedBetweenReadingsCountsNothingInsteadOfMakingTheTotalNegative() {
        // -1 is what ThreadMXBean reports for a thread that is no longer alive.
        long[] before = {1_000, 2_000_000};
        long[] after = {1_048, -1};
        assertThat(ModelBenchmark.allocatedBetween(before, after)).isEqualTo(48);
    }

    @Test
    void threadThatStartedBetweenReadingsCountsNothing() {
        assertThat(ModelBenchmark.allocatedBetween(new long[] {-1, 10}, new long[] {4_096, 10})).isZero();
    }
}

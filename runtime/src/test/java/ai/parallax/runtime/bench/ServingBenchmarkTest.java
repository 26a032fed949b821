package ai.parallax.runtime.bench;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.runtime.LocalModel;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ServingBenchmarkTest {

    @Test
    void reportsOneRowPerConcurrencyWithEveryRequestsTokens() throws Exception {
        Path dir = Path.of(System.getProperty("parallax.models"), "stories260K");
        ServingBenchmark.Settings settings = new ServingBenchmark.Settings(List.of(1, 3, 8), 12, 6, 7);
        // 8 sequences of 18 positions in blocks of 16: 2 blocks each.
        EngineConfig config = new EngineConfig(16, 16, 512, 8, 8);
        try (SimdOps ops = new SimdOps(2);
             LocalModel local = LocalModel.open(dir, ops, 64, null);
             InferenceEngine engine = local.newEngine(ops, config)) {
            List<ServingBenchmark.Row> rows = new ServingBenchmark(engine, local.model().config().vocabSize())
                    .run(settings);

            assertThat(rows).extracting(ServingBenchmark.Row::concurrency).containsExactly(1, 3, 8);
            for (ServingBenchmark.Row row : rows) {
                // The benchmark throws unless each request produced exactly its 6 tokens.
                assertThat(row.generatedTokens()).isEqualTo(row.concurrency() * 6L);
                assertThat(row.seconds()).isPositive();
                assertThat(row.tokensPerSecond()).isPositive();
                for (ServingBenchmark.Percentiles p : List.of(row.timeToFirstToken(), row.interTokenLatency())) {
                    assertThat(p.p50()).isPositive();
                    assertThat(p.p50()).isLessThanOrEqualTo(p.p90());
                    assertThat(p.p90()).isLessThanOrEqualTo(p.p99());
                }
            }
            assertThat(engine.stats().failed()).isZero();
        }
    }

    @Test
    void percentilesTakeTheNearestRank() {
        long[] nanos = new long[100];
        for (int i = 0; i < 100; i++) {
            nanos[i] = (100 - i) * 1_000_000L; // 100 ms down to 1 ms, unsorted on purpose
        }
        ServingBenchmark.Percentiles p = ServingBenchmark.Percentiles.ofNanos(nanos);
        assertThat(p.p50()).isEqualTo(50.0);
        assertThat(p.p90()).isEqualTo(90.0);
        assertThat(p.p99()).isEqualTo(99.0);
    }
}

package ai.parallax.runtime.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * Each measured token rate beside the ceiling this machine allows it, as {@code parallax bench} prints them.
 *
 * <ul>
 *   <li>decode (batch 1) is bounded by memory: {@code bandwidth / bytes read per token};</li>
 *   <li>prefill is bounded by arithmetic: {@code FMA rate / FLOPs per token};</li>
 *   <li>batched decode by the lower of the two: {@code batch × bandwidth / bytes per token} (all sequences share
 *       one pass over the weights) and {@code FMA rate / FLOPs per token}.</li>
 * </ul>
 * Context-dependent costs (the KV cache, attention) are taken at each run's mean context.
 */
public record BenchReport(Machine machine, ModelCost cost, List<Row> rows, double decodeAllocatedBytesPerToken) {

    /**
     * The machine's measured ceilings, at one thread and at the thread count the model ran with: medians of the
     * probes' repetitions (a shared machine's best repetition can be a rare quiet moment). {@code bandwidthBest} and
     * {@code fmaRateBest} are the best repetitions at the model's thread count, for reference.
     */
    public record Machine(int threads, double bandwidthOneThread, double bandwidth, double fmaRateOneThread,
                          double fmaRate, double bandwidthBest, double fmaRateBest) {
    }

    /**
     * One measurement. {@code bandwidthCeiling} or {@code computeCeiling} is NaN where it does not apply; the
     * binding {@code ceiling} is the lower of the two. {@code cpuShare} is the share of the threads' wall time the
     * process was on a CPU ({@link ModelBenchmark.Throughput#cpuCores()} over the thread count).
     */
    public record Row(String name, int batch, int tokens, double tokensPerSecond, double bandwidthCeiling,
                      double computeCeiling, double ceiling, double percentOfCeiling, double cpuShare) {
        static Row of(String name, int batch, ModelBenchmark.Throughput t, double bandwidthCeiling,
                      double computeCeiling, int threads) {
            double ceiling = Double.isNaN(bandwidthCeiling) ? computeCeiling
                    : Double.isNaN(computeCeiling) ? bandwidthCeiling : Math.min(bandwidthCeiling, computeCeiling);
            return new Row(name, batch, t.tokens(), t.tokensPerSecond(), bandwidthCeiling, computeCeiling, ceiling,
                    100 * t.tokensPerSecond() / ceiling, t.cpuCores() / threads);
        }
    }

    public static BenchReport of(Machine machine, ModelCost cost, ModelBenchmark.Settings settings,
                                 ModelBenchmark.Measurements m) {
        List<Row> rows = new ArrayList<>();
        double prefillContext = settings.promptTokens() / 2.0;
        rows.add(Row.of("prefill " + settings.promptTokens(), 1, m.prefill(), Double.NaN,
                machine.fmaRate() / cost.flopsPerToken(prefillContext), machine.threads()));
        double decodeContext = settings.decodeTokens() / 2.0;
        rows.add(Row.of("decode", 1, m.decode(), machine.bandwidth() / cost.bytesPerToken(decodeContext),
                Double.NaN, machine.threads()));
        double batchedContext = settings.batchedSteps() / 2.0;
        for (ModelBenchmark.Batched b : m.batched()) {
            // One step reads the weights once for the whole batch, plus each sequence's own KV cache.
            double bytesPerStep = cost.weightBytesRead()
                    + b.batch() * (cost.bytesPerToken(batchedContext) - cost.weightBytesRead());
            rows.add(Row.of("decode batch " + b.batch(), b.batch(), b.throughput(),
                    b.batch() * machine.bandwidth() / bytesPerStep,
                    machine.fmaRate() / cost.flopsPerToken(batchedContext), machine.threads()));
        }
        if (m.longContextDecode() != null) {
            double longContext = settings.longContext() + settings.decodeTokens() / 2.0;
            rows.add(Row.of("decode @" + settings.longContext(), 1, m.longContextDecode(),
                    machine.bandwidth() / cost.bytesPerToken(longContext), Double.NaN, machine.threads()));
        }
        return new BenchReport(machine, cost, List.copyOf(rows), m.decodeAllocatedBytesPerToken());
    }
}

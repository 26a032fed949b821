package ai.parallax.server.dashboard;

import ai.parallax.runtime.engine.EngineStats;

/**
 * Turns the engine's counters, looked at every tick, into rates over a sampling interval: tokens per second and the
 * mean step latency. The engine counts steps but does not time them, so the time between ticks in which a step ran
 * (or a sequence was running) counts as busy, and busy time over steps is the step latency. Not thread-safe: one
 * sampler thread drives it.
 */
final class EngineRates {
    /** Rates over one interval; {@code stepLatencyMs} keeps the last known figure through idle intervals. */
    record Rates(double tokensPerSecond, Double stepLatencyMs) {
    }

    private EngineStats intervalStart;
    private long intervalStartNanos;
    private EngineStats lastTick;
    private long lastTickNanos;
    private long busyNanos;
    private Double stepLatencyMs;

    /** Looks at the engine; call every tick. */
    void tick(EngineStats stats, long nanos) {
        if (lastTick != null && (stats.steps() > lastTick.steps() || stats.running() > 0)) {
            busyNanos += nanos - lastTickNanos;
        }
        lastTick = stats;
        lastTickNanos = nanos;
        if (intervalStart == null) {
            intervalStart = stats;
            intervalStartNanos = nanos;
            busyNanos = 0;
        }
    }

    /** Closes the interval at the last tick and returns its rates, or null before two ticks were seen. */
    Rates sample() {
        if (intervalStart == null || lastTickNanos == intervalStartNanos) {
            return null;
        }
        double seconds = (lastTickNanos - intervalStartNanos) / 1e9;
        long tokens = lastTick.generatedTokens() - intervalStart.generatedTokens();
        long steps = lastTick.steps() - intervalStart.steps();
        if (steps > 0) {
            stepLatencyMs = busyNanos / 1e6 / steps;
        }
        Rates rates = new Rates(tokens / seconds, stepLatencyMs);
        intervalStart = lastTick;
        intervalStartNanos = lastTickNanos;
        busyNanos = 0;
        return rates;
    }
}

package ai.parallax.server.api;

import ai.parallax.runtime.engine.EngineStats;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The counters behind {@code GET /metrics}, written in the Prometheus text exposition format (version 0.0.4):
 * requests by endpoint and status, tokens, the engine's queue and KV cache, and histograms of time to first token
 * and inter-token latency.
 */
public final class ServingMetrics {
    private static final double[] LATENCY_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
            5, 10, 30};

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder completionTokens = new LongAdder();
    private final Histogram timeToFirstToken = new Histogram(LATENCY_BUCKETS);
    private final Histogram interTokenLatency = new Histogram(LATENCY_BUCKETS);

    public void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    public void tokens(int prompt, int completion) {
        promptTokens.add(prompt);
        completionTokens.add(completion);
    }

    public void timeToFirstToken(long nanos) {
        timeToFirstToken.observe(nanos / 1e9);
    }

    public void interTokenLatency(long nanos) {
        interTokenLatency.observe(nanos / 1e9);
    }

    /** The exposition text; {@code stats} is null while the model loads. */
    public String render(EngineStats stats) {
        StringBuilder out = new StringBuilder();
        out.append("# HELP parallax_requests_total API requests by endpoint and HTTP status.\n");
        out.append("# TYPE parallax_requests_total counter\n");
        new TreeMap<>(requests).forEach((key, count) -> {
            String[] parts = key.split("\u0000");
            out.append("parallax_requests_total{endpoint=\"").append(parts[0]).append("\",status=\"")
                    .append(parts[1]).append("\"} ").append(count.sum()).append('\n');
        });
        counter(out, "parallax_prompt_tokens_total", "Prompt tokens of completed requests.", promptTokens.sum());
        counter(out, "parallax_generation_tokens_total", "Tokens generated for completed requests.",
                completionTokens.sum());
        if (stats != null) {
            gauge(out, "parallax_queue_depth", "Requests waiting for admission to the running batch.", stats.waiting());
            gauge(out, "parallax_running_sequences", "Sequences in the running batch.", stats.running());
            gauge(out, "parallax_kv_blocks_used", "KV cache blocks held by sequences.", stats.kvBlocksUsed());
            gauge(out, "parallax_kv_blocks_total", "KV cache blocks in the pool.", stats.kvBlocksTotal());
            gauge(out, "parallax_kv_blocks_cached", "KV cache blocks holding a reusable prompt prefix.",
                    stats.kvBlocksCached());
            gauge(out, "parallax_kv_cache_usage_ratio", "Fraction of the KV cache pool in use.",
                    stats.kvBlocksTotal() == 0 ? 0 : (double) stats.kvBlocksUsed() / stats.kvBlocksTotal());
            counter(out, "parallax_prefix_cache_hit_blocks_total", "KV blocks reused from the prefix cache.",
                    stats.prefixHitBlocks());
            counter(out, "parallax_preemptions_total", "Sequences pre-empted because the KV cache was full.",
                    stats.preemptions());
            counter(out, "parallax_engine_steps_total", "Batched forward steps run.", stats.steps());
        }
        timeToFirstToken.render(out, "parallax_time_to_first_token_seconds",
                "Time from request arrival to its first generated token.");
        interTokenLatency.render(out, "parallax_inter_token_latency_seconds",
                "Time between consecutive generated tokens of a request.");
        return out.toString();
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n");
        out.append(name).append(' ').append(value).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, double value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n");
        out.append(name).append(' ').append(format(value)).append('\n');
    }

    private static String format(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** A cumulative histogram with fixed upper bounds, as Prometheus expects. */
    private static final class Histogram {
        private final double[] bounds;
        private final LongAdder[] counts;
        private final LongAdder count = new LongAdder();
        private final java.util.concurrent.atomic.DoubleAdder sum = new java.util.concurrent.atomic.DoubleAdder();

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new LongAdder[bounds.length];
            for (int i = 0; i < bounds.length; i++) {
                counts[i] = new LongAdder();
            }
        }

        void observe(double seconds) {
            for (int i = 0; i < bounds.length; i++) {
                if (seconds <= bounds[i]) {
                    counts[i].increment();
                    break;
                }
            }
            count.increment();
            sum.add(seconds);
        }

        void render(StringBuilder out, String name, String help) {
            out.append("# HELP ").append(name).append(' ').append(help).append('\n');
            out.append("# TYPE ").append(name).append(" histogram\n");
            long cumulative = 0;
            for (int i = 0; i < bounds.length; i++) {
                cumulative += counts[i].sum();
                out.append(name).append("_bucket{le=\"").append(format(bounds[i])).append("\"} ").append(cumulative)
                        .append('\n');
            }
            out.append(name).append("_bucket{le=\"+Inf\"} ").append(count.sum()).append('\n');
            out.append(name).append("_sum ").append(String.format(Locale.ROOT, "%.6f", sum.sum())).append('\n');
            out.append(name).append("_count ").append(count.sum()).append('\n');
        }
    }
}

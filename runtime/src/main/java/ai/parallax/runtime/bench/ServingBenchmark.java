package ai.parallax.runtime.bench;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.GenerationListener;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.runtime.sampling.SamplingParams;
import ai.parallax.runtime.sampling.TokenLogprob;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * Serving under concurrency: for each concurrency N, N greedy requests (random prompts, {@code ignore_eos}) are
 * submitted at once to a running {@link InferenceEngine}, which batches them continuously over its paged KV cache.
 * Time to first token and the gaps between tokens are taken from the listener callbacks, so they include queueing
 * and the prefill of the other requests, as a client would see them.
 */
public final class ServingBenchmark {

    /**
     * @param concurrencies   requests in flight together, one measured run each
     * @param promptTokens    prompt length of every request
     * @param generatedTokens tokens every request generates
     */
    public record Settings(List<Integer> concurrencies, int promptTokens, int generatedTokens, long seed) {
        public Settings {
            concurrencies = List.copyOf(concurrencies);
            if (concurrencies.isEmpty() || concurrencies.stream().anyMatch(n -> n < 1)) {
                throw new IllegalArgumentException("concurrencies must be positive, got " + concurrencies);
            }
            if (promptTokens < 1 || generatedTokens < 2) {
                throw new IllegalArgumentException("need a prompt of at least 1 token and at least 2 generated "
                        + "tokens (for an inter-token gap), got " + promptTokens + " and " + generatedTokens);
            }
        }

        public int maxConcurrency() {
            return concurrencies.stream().mapToInt(Integer::intValue).max().orElseThrow();
        }
    }

    /** Milliseconds at the 50th, 90th and 99th percentile (nearest rank). */
    public record Percentiles(double p50, double p90, double p99) {
        static Percentiles ofNanos(long[] values) {
            long[] sorted = values.clone();
            Arrays.sort(sorted);
            return new Percentiles(rank(sorted, 50), rank(sorted, 90), rank(sorted, 99));
        }

        private static double rank(long[] sorted, int percent) {
            int index = (int) Math.ceil(percent / 100.0 * sorted.length) - 1;
            return sorted[Math.max(index, 0)] / 1e6;
        }
    }

    /**
     * One concurrency's figures.
     *
     * @param generatedTokens tokens generated over all requests (each request must produce all of its own)
     * @param seconds         from the first submission to the last completion
     * @param tokensPerSecond {@code generatedTokens / seconds}: the aggregate output rate, prefill included
     * @param timeToFirstToken per request, from its submission to its first token
     * @param interTokenLatency every gap between two consecutive tokens of one request
     */
    public record Row(int concurrency, long generatedTokens, double seconds, double tokensPerSecond,
                      Percentiles timeToFirstToken, Percentiles interTokenLatency) {
    }

    private final InferenceEngine engine;
    private final int vocabularySize;

    /** @param engine a started engine whose KV pool holds {@code maxConcurrency} full sequences */
    public ServingBenchmark(InferenceEngine engine, int vocabularySize) {
        this.engine = engine;
        this.vocabularySize = vocabularySize;
    }

    /** A short warm-up request (so the first row does not pay for JIT compilation), then one row per concurrency. */
    public List<Row> run(Settings settings) throws InterruptedException {
        Random random = new Random(settings.seed());
        measure(1, settings.promptTokens(), 2, random);
        List<Row> rows = new ArrayList<>();
        for (int n : settings.concurrencies()) {
            rows.add(measure(n, settings.promptTokens(), settings.generatedTokens(), random));
        }
        return rows;
    }

    private Row measure(int concurrency, int promptTokens, int generatedTokens, Random random)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(concurrency);
        List<TimedRequest> requests = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            requests.add(new TimedRequest(generatedTokens, done));
        }
        List<GenerationRequest> prompts = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            // Distinct random prompts, so no request reuses another's cached prefix.
            prompts.add(new GenerationRequest(random.ints(promptTokens, 0, vocabularySize).toArray(),
                    generatedTokens, SamplingParams.GREEDY, List.of(), Set.of(), true, -1));
        }
        long start = System.nanoTime();
        for (int i = 0; i < concurrency; i++) {
            requests.get(i).submittedNanos = System.nanoTime();
            engine.submit(prompts.get(i), requests.get(i));
        }
        done.await();
        long end = System.nanoTime();

        long[] firstToken = new long[concurrency];
        long[] gaps = new long[concurrency * (generatedTokens - 1)];
        for (int i = 0; i < concurrency; i++) {
            TimedRequest r = requests.get(i);
            if (r.failure != null) {
                throw new IllegalStateException("request " + i + " of " + concurrency + " failed", r.failure);
            }
            if (r.received != generatedTokens) {
                throw new IllegalStateException("request " + i + " of " + concurrency + " produced " + r.received
                        + " tokens instead of " + generatedTokens);
            }
            firstToken[i] = r.tokenNanos[0] - r.submittedNanos;
            for (int t = 1; t < generatedTokens; t++) {
                gaps[i * (generatedTokens - 1) + t - 1] = r.tokenNanos[t] - r.tokenNanos[t - 1];
            }
        }
        long total = (long) concurrency * generatedTokens;
        double seconds = (end - start) / 1e9;
        return new Row(concurrency, total, seconds, total / seconds, Percentiles.ofNanos(firstToken),
                Percentiles.ofNanos(gaps));
    }

    /** Arrival times of one request's tokens, written on the engine thread and read after its latch. */
    private static final class TimedRequest implements GenerationListener {
        final long[] tokenNanos;
        final CountDownLatch done;
        volatile long submittedNanos;
        int received;
        Throwable failure;

        TimedRequest(int generatedTokens, CountDownLatch done) {
            this.tokenNanos = new long[generatedTokens];
            this.done = done;
        }

        @Override
        public void onToken(int tokenId, String text, TokenLogprob logprob) {
            if (tokenId < 0) {
                return; // text flushed at the end, not a token
            }
            if (received < tokenNanos.length) {
                tokenNanos[received] = System.nanoTime();
            }
            received++;
        }

        @Override
        public void onComplete(GenerationResult result) {
            done.countDown();
        }

        @Override
        public void onFailure(Throwable error) {
            failure = error;
            done.countDown();
        }
    }
}

package ai.parallax.server.scheduler;

import java.util.List;

/**
 * Picks the pipeline a new request goes to: the one where it is expected to finish soonest, not the next in turn.
 * A pure decision over a snapshot of each pipeline's load.
 */
public final class RequestRouter {
    private RequestRouter() {
    }

    /**
     * A pipeline's load as the scheduler measured it.
     *
     * @param stepMillis     measured time of one batched step through every stage (sum of stage step times), or
     *                       NaN before the first step
     * @param queued         requests waiting or running on it
     * @param roundTripMillis round trips of the links the step crosses, summed
     * @param available      false while the pipeline is broken or loading
     */
    public record PipelineLoad(double stepMillis, int queued, double roundTripMillis, boolean available) {
        /** Expected latency of one more request: the steps queued before it (and its own), plus the links. */
        public double expectedMillis() {
            return stepMillis * (queued + 1) + roundTripMillis;
        }
    }

    /**
     * The index of the pipeline with the least expected latency (the lowest index on a tie); -1 if none is up.
     * An idle pipeline that has not run a step yet ({@code stepMillis} NaN, nothing queued) comes first, the one with
     * the shortest links among several: until it has run a step nothing is known of it, and one request is the
     * cheapest way to learn (otherwise requests that never overlap, or links whose first round trips a busy CPU
     * held back, would keep every request on the pipelines already measured). A busy unmeasured pipeline is assumed
     * as slow as the slowest one measured (1 ms if none is), and never faster than its own links' round trips,
     * which every step crosses.
     */
    public static int choose(List<PipelineLoad> pipelines) {
        int fresh = -1;
        for (int i = 0; i < pipelines.size(); i++) {
            PipelineLoad p = pipelines.get(i);
            if (p.available() && Double.isNaN(p.stepMillis()) && p.queued() == 0
                    && (fresh < 0 || p.roundTripMillis() < pipelines.get(fresh).roundTripMillis())) {
                fresh = i;
            }
        }
        if (fresh >= 0) {
            return fresh;
        }
        double slowest = Double.NaN;
        for (PipelineLoad p : pipelines) {
            if (!Double.isNaN(p.stepMillis()) && !(p.stepMillis() <= slowest)) {
                slowest = p.stepMillis();
            }
        }
        double unmeasured = Double.isNaN(slowest) ? 1.0 : slowest;
        int best = -1;
        double bestMillis = Double.POSITIVE_INFINITY;
        for (int i = 0; i < pipelines.size(); i++) {
            PipelineLoad p = pipelines.get(i);
            double expected = !Double.isNaN(p.stepMillis()) ? p.expectedMillis()
                    : new PipelineLoad(Math.max(unmeasured, p.roundTripMillis()), p.queued(), p.roundTripMillis(),
                    true).expectedMillis();
            if (p.available() && (best < 0 || expected < bestMillis)) {
                best = i;
                bestMillis = expected;
            }
        }
        return best;
    }
}

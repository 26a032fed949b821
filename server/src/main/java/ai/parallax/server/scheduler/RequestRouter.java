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
     * A pipeline that has not run a step yet ({@code stepMillis} NaN) is assumed as slow as the slowest one
     * measured (1 ms if none is), and never faster than its own links' round trips, which every step crosses: a new
     * pipeline gets work, but not all of it before anything is known. One exception: while other pipelines are
     * measured, an idle unmeasured one takes the next request at the cost of its links alone, so that it gets
     * measured at all; otherwise requests that never overlap would all stay on the measured pipelines.
     */
    public static int choose(List<PipelineLoad> pipelines) {
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
            double expected;
            if (!Double.isNaN(p.stepMillis())) {
                expected = p.expectedMillis();
            } else if (!Double.isNaN(slowest) && p.queued() == 0) {
                expected = p.roundTripMillis();
            } else {
                expected = new PipelineLoad(Math.max(unmeasured, p.roundTripMillis()), p.queued(),
                        p.roundTripMillis(), true).expectedMillis();
            }
            if (p.available() && (best < 0 || expected < bestMillis)) {
                best = i;
                bestMillis = expected;
            }
        }
        return best;
    }
}

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
     * @param stepMillis     measured time of one batched step through every stage (sum of stage step times)
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

    /** The index of the pipeline with the least expected latency (the lowest index on a tie); -1 if none is up. */
    public static int choose(List<PipelineLoad> pipelines) {
        int best = -1;
        for (int i = 0; i < pipelines.size(); i++) {
            PipelineLoad p = pipelines.get(i);
            if (p.available() && (best < 0 || p.expectedMillis() < pipelines.get(best).expectedMillis())) {
                best = i;
            }
        }
        return best;
    }
}

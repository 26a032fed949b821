package ai.parallax.server.dashboard;

import java.util.List;

/**
 * What the dashboard sees of a cluster: its status, the models it can serve, the choice made on the setup page and
 * a short history of per-node figures. {@link SingleNodeClusterView} implements it for {@code serve} on one
 * machine; the cluster scheduler implements it for {@code serve -n} + {@code join}. {@link ClusterStatusApi} turns
 * it into the JSON documented in {@code dashboard/API.md}.
 *
 * <p>Every method is called from HTTP handler threads, concurrently, and must return quickly (no model loading
 * inside: {@link #setup} starts that and returns).
 */
public interface ClusterView extends AutoCloseable {

    /** The cluster as it is now. */
    ClusterStatus status();

    /** The models the setup page offers, with what the scheduler machine knows of its own memory. */
    ClusterModels models();

    /**
     * Applies the setup page's choice and returns the status right after.
     *
     * @throws SetupRefusedException when the choice names an unknown model or cannot be honoured here; its message
     *                               is shown to the user as is
     */
    ClusterStatus setup(SetupRequest request);

    /** Per-node samples taken after {@code sinceMillis} (epoch milliseconds), oldest first. */
    List<NodeSample> history(long sinceMillis);

    @Override
    default void close() {
    }

    /** Thrown by {@link #setup} when the request cannot be carried out; {@code status} is the HTTP status. */
    final class SetupRefusedException extends RuntimeException {
        private final int status;

        public SetupRefusedException(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }
}

package ai.parallax.server.dashboard;

/**
 * A validated {@link SetupRequest}: defaults filled in, ranges checked.
 *
 * @param nodes   at least 1
 * @param network {@code lan} or {@code public}
 */
public record SetupChoice(String model, int nodes, String network) {

    /** @throws ClusterView.SetupRefusedException (400) naming the field that is wrong */
    public static SetupChoice validate(SetupRequest request) {
        if (request.model() == null || request.model().isBlank()) {
            throw new ClusterView.SetupRefusedException(400,
                    "setup needs a model: one of the ids GET /cluster/models lists");
        }
        int nodes = request.nodes() == null ? 1 : request.nodes();
        if (nodes < 1) {
            throw new ClusterView.SetupRefusedException(400, "nodes must be at least 1, got " + nodes);
        }
        String network = request.network() == null ? "lan" : request.network();
        if (!network.equals("lan") && !network.equals("public")) {
            throw new ClusterView.SetupRefusedException(400, "network must be \"lan\" or \"public\", got \""
                    + network + "\"");
        }
        return new SetupChoice(request.model(), nodes, network);
    }
}

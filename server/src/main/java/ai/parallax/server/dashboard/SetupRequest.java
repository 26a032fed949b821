package ai.parallax.server.dashboard;

/**
 * The setup page's choice, the body of {@code POST /cluster/setup}.
 *
 * @param model   a model id from {@code GET /cluster/models}
 * @param nodes   how many nodes to wait for, at least 1
 * @param network {@code lan} (discover and join on the local network) or {@code public} (join through the
 *                scheduler's public address)
 */
public record SetupRequest(String model, Integer nodes, String network) {
}

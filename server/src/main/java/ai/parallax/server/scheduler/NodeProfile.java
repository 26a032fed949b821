package ai.parallax.server.scheduler;

/**
 * What the scheduler knows about a node when it allocates: the memory it offers and how fast it runs layers.
 *
 * @param id          stable identity (the node's peer id)
 * @param memoryBytes memory the node offers for weights and KV cache
 * @param speed       measured throughput, in any unit common to all nodes (higher is faster); only ratios matter
 */
public record NodeProfile(String id, long memoryBytes, double speed) {
    public NodeProfile {
        if (id == null || id.isEmpty()) {
            throw new IllegalArgumentException("a node needs an id");
        }
        if (memoryBytes < 0 || !(speed > 0) || Double.isInfinite(speed)) {
            throw new IllegalArgumentException("node " + id + " needs memory >= 0 and a positive finite speed, got "
                    + memoryBytes + " bytes and speed " + speed);
        }
    }
}

package ai.parallax.server.dashboard;

/**
 * One node's figures at one moment, for the cluster page's charts. Null fields were unknown at that moment.
 *
 * @param kvUsage fraction 0..1 of the node's KV cache blocks in use
 */
public record NodeSample(long timeMillis, String node, Double tokensPerSecond, Double stepLatencyMs,
                         long memoryUsedBytes, double kvUsage) {
}

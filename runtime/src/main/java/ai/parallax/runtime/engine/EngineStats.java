package ai.parallax.runtime.engine;

/**
 * A snapshot of the engine's state and counters since it started, for {@code /metrics} and logs.
 *
 * @param kvBlocksUsed    blocks held by running sequences
 * @param kvBlocksCached  blocks holding a reusable prefix (in use or not)
 * @param prefixHitBlocks blocks taken from the prefix cache instead of being computed
 */
public record EngineStats(int waiting, int running, int kvBlocksUsed, int kvBlocksTotal, int kvBlocksCached,
                          int blockSize, long prefixHitBlocks, long preemptions, long promptTokens,
                          long generatedTokens, long steps, long completed, long cancelled, long failed) {
}

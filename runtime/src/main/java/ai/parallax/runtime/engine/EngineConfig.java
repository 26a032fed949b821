package ai.parallax.runtime.engine;

/**
 * The limits of one serving engine.
 *
 * @param blockSize       positions per KV block
 * @param blockCount      blocks in the KV pool (its capacity in positions is their product)
 * @param maxPrefillChunk prompt tokens one step may run, over all sequences still in their prompt
 * @param maxRunning      sequences in the running batch at most
 * @param maxQueue        requests waiting for admission at most; beyond it, submissions are refused
 */
public record EngineConfig(int blockSize, int blockCount, int maxPrefillChunk, int maxRunning, int maxQueue) {
    public static final int DEFAULT_BLOCK_SIZE = 16;
    public static final int DEFAULT_MAX_PREFILL_CHUNK = 512;
    public static final int DEFAULT_MAX_RUNNING = 64;
    public static final int DEFAULT_MAX_QUEUE = 256;

    public EngineConfig {
        if (blockSize <= 0 || blockCount <= 0) {
            throw new IllegalArgumentException("the KV pool needs blocks, got " + blockCount + " blocks of "
                    + blockSize + " positions");
        }
        if (maxPrefillChunk <= 0) {
            throw new IllegalArgumentException("--max-prefill-chunk must be positive, got " + maxPrefillChunk);
        }
        if (maxRunning <= 0 || maxQueue < 0) {
            throw new IllegalArgumentException("max running must be positive and max queue >= 0, got " + maxRunning
                    + " and " + maxQueue);
        }
    }

    public int capacityPositions() {
        return blockSize * blockCount;
    }
}

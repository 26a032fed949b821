package ai.parallax.server.dashboard;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.server.scheduler.ModelFootprint;
import java.nio.file.Path;

/**
 * How the cluster scheduler sizes a model, so the setup page warns with the scheduler's own figures: each stage
 * reserves KV cache for {@code kvPositions} positions per layer ({@code --kv-blocks} × {@code --kv-block-size}),
 * and a node offers {@code --memory}, or its free memory when that is not given.
 *
 * @param kvPositions       KV positions reserved per layer on every stage
 * @param nodeMemoryBytes   what this machine's worker offers ({@code --memory}), or null for its free memory
 * @param sequences         sequences a stage keeps per-sequence state for ({@code --max-running})
 */
public record ClusterSizing(long kvPositions, Long nodeMemoryBytes, int sequences) {

    /** Sizing for models without per-sequence state (or when it is not to be counted). */
    public ClusterSizing(long kvPositions, Long nodeMemoryBytes) {
        this(kvPositions, nodeMemoryBytes, 0);
    }

    /** The memory one node offers: {@code --memory}, or this machine's free memory as the guess for every node. */
    public long memoryPerNode() {
        return nodeMemoryBytes != null ? nodeMemoryBytes : LocalMachine.freeMemory();
    }

    /**
     * {@code info} with {@code estimatedMemoryBytes} replaced by what one whole copy takes on the cluster (every
     * layer with its KV reserve, the embedding and the head: what the allocator needs); unchanged when the model
     * cannot be served.
     */
    public ClusterModels.ModelInfo estimate(ClusterModels.ModelInfo info) {
        if (info.problem() != null) {
            return info;
        }
        try {
            Path dir = Path.of(info.path());
            long bytes = ModelFootprint.of(dir, ModelConfig.read(dir), kvPositions, sequences).wholeModelBytes();
            return new ClusterModels.ModelInfo(info.id(), info.path(), info.architecture(), info.modelType(),
                    info.numLayers(), info.contextLength(), info.parameters(), info.dtype(), info.diskBytes(), bytes,
                    null);
        } catch (RuntimeException e) {
            return new ClusterModels.ModelInfo(info.id(), info.path(), info.architecture(), info.modelType(),
                    info.numLayers(), info.contextLength(), info.parameters(), info.dtype(), info.diskBytes(),
                    info.estimatedMemoryBytes(), "cannot size it for the cluster: " + e.getMessage());
        }
    }
}

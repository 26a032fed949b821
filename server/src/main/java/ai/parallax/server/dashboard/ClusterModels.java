package ai.parallax.server.dashboard;

import java.util.List;

/**
 * The answer of {@code GET /cluster/models}.
 *
 * @param modelsDir       the folder scanned, or null when the server was given a single model
 * @param current         the id of the model being served, or null
 * @param nodeMemoryBytes free memory of the scheduler machine, a guide for how much one node can hold
 */
public record ClusterModels(String modelsDir, String current, long nodeMemoryBytes, List<ModelInfo> models) {

    /**
     * One model folder.
     *
     * @param parameters           elements in all its safetensors tensors
     * @param dtype                the dtype holding most of its weight bytes (e.g. {@code BF16})
     * @param diskBytes            the folder's files on disk
     * @param estimatedMemoryBytes weights as loaded plus the KV cache of one full-context sequence
     * @param problem              why it cannot be served, or null when it can
     */
    public record ModelInfo(String id, String path, String architecture, String modelType, int numLayers,
                            int contextLength, long parameters, String dtype, long diskBytes,
                            long estimatedMemoryBytes, String problem) {
    }
}

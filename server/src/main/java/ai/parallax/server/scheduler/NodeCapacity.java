package ai.parallax.server.scheduler;

/**
 * How many layers a node can hold in each pipeline role. The first stage also holds the embedding and the last stage
 * the LM head, so the same node holds fewer layers there (Parallax, §3 "capacity in layers").
 *
 * @param first  layers as the first stage of a longer pipeline
 * @param middle layers as a middle stage
 * @param last   layers as the last stage of a longer pipeline
 * @param whole  layers as the only stage (first and last)
 */
public record NodeCapacity(int first, int middle, int last, int whole) {

    public static NodeCapacity of(NodeProfile node, ModelFootprint model) {
        return new NodeCapacity(
                layers(node.memoryBytes() - model.embeddingBytes(), model),
                layers(node.memoryBytes(), model),
                layers(node.memoryBytes() - model.headBytes(), model),
                layers(node.memoryBytes() - model.embeddingBytes() - model.headBytes(), model));
    }

    private static int layers(long bytes, ModelFootprint model) {
        if (bytes <= 0) {
            return 0;
        }
        long perLayer = Math.max(1, model.bytesPerLayer());
        return (int) Math.min(model.layers(), bytes / perLayer);
    }

    /** Layers in a stage that is first, last, both or neither. */
    public int in(boolean isFirst, boolean isLast) {
        return isFirst ? (isLast ? whole : first) : (isLast ? last : middle);
    }
}

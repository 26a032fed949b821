package ai.parallax.server.dashboard;

import java.util.List;

/**
 * A snapshot of the cluster for {@code GET /cluster/status}; field meanings are in {@code dashboard/API.md}.
 *
 * @param state         {@code setup} (no model chosen), {@code waiting} (for nodes), {@code loading}, {@code ready}
 *                      or {@code failed}
 * @param message       one human sentence about the state, or null
 * @param model         the chosen model, or null before setup
 * @param network       {@code lan} or {@code public}
 * @param nodesExpected how many nodes setup asked for
 * @param timeMillis    when the snapshot was taken (epoch milliseconds)
 */
public record ClusterStatus(String state, String message, ModelRef model, String network, int nodesExpected,
                            JoinInfo join, List<Node> nodes, List<Pipeline> pipelines, List<Event> events,
                            long timeMillis) {

    /** The served model, as far as the layer bar and chat need it. */
    public record ModelRef(String id, String architecture, int numLayers, long parameters, String dtype) {
    }

    /**
     * How another machine joins.
     *
     * @param joinable false where this server accepts no other node (single-machine {@code serve})
     * @param note     why not, or a hint; may be null
     */
    public record JoinInfo(String command, boolean joinable, String note) {
    }

    /**
     * One machine of the cluster.
     *
     * @param state        {@code joining}, {@code waiting} (joined, no layers assigned yet), {@code loading},
     *                     {@code ready}, {@code standby}, {@code failed} or {@code left}
     * @param layers       the layer range it holds, or null when it holds none
     * @param pipeline     the pipeline index its layers belong to, or -1
     * @param loadProgress 0..1 of its weights paged in
     */
    public record Node(String id, String name, String role, String state, Hardware hardware, LayerSpan layers,
                       int pipeline, double loadProgress, NodeMetrics metrics, List<Link> links) {
    }

    /**
     * What a node reported of its machine. Null fields were not reported or not measured.
     *
     * @param memoryOfferedBytes what the node offers the cluster for layers and KV cache ({@code --memory} or its
     *                           free memory when it joined)
     * @param memoryBandwidthGBs measured streaming read bandwidth, GB/s
     * @param matmulGflops       measured matrix-vector throughput, GFLOP/s
     */
    public record Hardware(String cpu, Integer cores, String accelerator, Long memoryTotalBytes, Long memoryFreeBytes,
                           Long memoryOfferedBytes, Double memoryBandwidthGBs, Double matmulGflops) {
    }

    /** Layers {@code start} (inclusive) to {@code end} (exclusive) of {@code total}. */
    public record LayerSpan(int start, int end, int total) {
    }

    /**
     * A node's live figures over the last sampling interval. Null fields are unknown.
     *
     * @param tokensPerSecond tokens generated per second
     * @param stepLatencyMs   mean time of one batched forward step
     * @param memoryUsedBytes resident memory of the node's process
     * @param kvBlocksUsed    KV cache blocks held by sequences
     */
    public record NodeMetrics(Double tokensPerSecond, Double stepLatencyMs, long memoryUsedBytes, int kvBlocksUsed,
                              int kvBlocksTotal, int runningSequences, int waitingRequests, long generatedTokens,
                              long steps) {
    }

    /** The measured round-trip time from a node to a peer. */
    public record Link(String peer, double rttMs) {
    }

    /** One complete copy of the model across nodes, stages in layer order. */
    public record Pipeline(int id, boolean ready, List<Stage> stages) {
    }

    /** The layers {@code [start, end)} one node runs within a pipeline. */
    public record Stage(String node, int start, int end) {
    }

    /**
     * Something that happened.
     *
     * @param kind {@code join}, {@code leave}, {@code allocation}, {@code failure} or {@code info}
     */
    public record Event(long timeMillis, String kind, String message) {
    }
}

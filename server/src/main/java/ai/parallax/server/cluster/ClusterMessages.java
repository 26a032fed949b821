package ai.parallax.server.cluster;

import ai.parallax.p2p.rpc.ParallaxProtocols;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * The control plane's messages: JSON records, one per request/response frame. JSON because they are small, rare
 * (join, allocation, status) and read in logs; the data plane uses the binary {@link StepFrame}.
 */
public final class ClusterMessages {
    /** Asks the scheduler which model the cluster serves, before a node registers. */
    public static final String CLUSTER_INFO = ParallaxProtocols.STATUS;
    public static final String JOIN = ParallaxProtocols.JOIN;
    /** Scheduler → node: load this stage (or, with no layers, drop the one you hold). */
    public static final String ASSIGN = ParallaxProtocols.ALLOCATION;
    /** Node → scheduler: how far the loading of its stage has come. */
    public static final String PROGRESS = ParallaxProtocols.HEARTBEAT;

    private static final JsonMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

    private ClusterMessages() {
    }

    public record ClusterInfo(String model, int layers, String modelType) {
    }

    /**
     * @param memoryBytes memory offered for weights and KV cache
     * @param speed       measured matrix throughput in GFLOP/s
     * @param bandwidth   measured memory read bandwidth in GB/s
     * @param addresses   where other stages can dial this node
     * @param device      where its kernels run: "cpu" or the GPU's name (null from nodes that predate it)
     */
    public record JoinRequest(String name, long memoryBytes, double speed, double bandwidth,
                              java.util.List<String> addresses, String device) {
    }

    public record JoinReply(boolean accepted, String message) {
    }

    /**
     * A stage to serve. {@code start == end} releases the node (standby). {@code previousPeer} may send it steps;
     * its output goes to {@code nextAddress}, or back to the scheduler when that is null (last stage).
     *
     * @param sequenceSlots state slots the stage keeps for sequences running at once (linear attention's recurrent
     *                      state, sliding layers' rings), 0 when the model keeps no state per sequence (and from
     *                      schedulers that predate it)
     */
    public record Assignment(long epoch, String model, int start, int end, int total, int blockCount, int blockSize,
                             int maxPositions, String activation, String previousPeer, String nextAddress,
                             int sequenceSlots) {
        /** A stage of a model that keeps no state per sequence. */
        public Assignment(long epoch, String model, int start, int end, int total, int blockCount, int blockSize,
                          int maxPositions, String activation, String previousPeer, String nextAddress) {
            this(epoch, model, start, end, total, blockCount, blockSize, maxPositions, activation, previousPeer,
                    nextAddress, 0);
        }

        public boolean isRelease() {
            return start == end;
        }
    }

    /** A stage's loading progress: {@code fraction} of its weights' bytes read, for allocation {@code epoch}. */
    public record Progress(long epoch, double fraction) {
    }

    public record Ack(boolean ok) {
    }

    public record AssignmentReply(boolean loaded, String error, long loadMillis) {
    }

    public static ByteBuf encode(Object message) {
        try {
            return Unpooled.wrappedBuffer(JSON.writeValueAsBytes(message));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Reads and releases {@code buf}. */
    public static <T> T decode(ByteBuf buf, Class<T> type) {
        try {
            return JSON.readValue(buf.toString(StandardCharsets.UTF_8), type);
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed " + type.getSimpleName() + ": " + e.getMessage(), e);
        } finally {
            buf.release();
        }
    }

    public static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}

package ai.parallax.server.cluster;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.rpc.FrameCodec;
import ai.parallax.p2p.rpc.ParallaxProtocols;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The data plane between two hops of a pipeline: a long-lived {@code /parallax/activations/1.0.0} stream carrying
 * {@link StepFrame}s, one per {@link FrameCodec} frame. Opened once per hop and reused by every step, so a step costs
 * no stream negotiation.
 */
public final class ActivationLink {
    private static final Logger LOG = Logger.getLogger(ActivationLink.class.getName());
    public static final String PROTOCOL = ParallaxProtocols.ACTIVATIONS;
    /** The largest frame accepted: a long prefill chunk of a wide model's f32 activations fits easily. */
    public static final int MAX_FRAME_BYTES = 256 * 1024 * 1024;

    private final P2pStream stream;

    private ActivationLink(P2pStream stream) {
        this.stream = stream;
    }

    /** Opens a link to a connected peer; frames the peer sends back on it go to {@code inbound}. */
    public static ActivationLink open(P2pNode node, PeerId peer, BiConsumer<PeerId, StepFrame> inbound,
                                      Duration timeout) {
        try {
            P2pStream s = node.openStream(peer, PROTOCOL, new Receiver(inbound)).get(timeout.toMillis(),
                    TimeUnit.MILLISECONDS);
            return new ActivationLink(s);
        } catch (Exception e) {
            throw new IllegalStateException("cannot open the activation stream to " + peer + ": " + e.getMessage(), e);
        }
    }

    /** Serves inbound links: every frame received goes to {@code inbound}. */
    public static void serve(P2pNode node, BiConsumer<PeerId, StepFrame> inbound) {
        node.handle(PROTOCOL, () -> new Receiver(inbound));
    }

    public PeerId peer() {
        return stream.remotePeer();
    }

    /** Sends a frame; the future fails if the stream is gone. */
    public CompletableFuture<Void> send(StepFrame frame) {
        ByteBuf payload = Unpooled.wrappedBuffer(frame.encode());
        return stream.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, payload));
    }

    public void close() {
        stream.reset();
    }

    /** Decodes frames off a stream; a malformed one resets the stream. */
    static final class Receiver implements StreamHandler {
        private final BiConsumer<PeerId, StepFrame> inbound;
        private FrameCodec.Reader reader;

        Receiver(BiConsumer<PeerId, StepFrame> inbound) {
            this.inbound = inbound;
        }

        @Override
        public void onData(P2pStream stream, ByteBuf data) {
            if (reader == null) {
                // Bound to the stream: a frame still arriving counts against the node's receive budget.
                reader = new FrameCodec.Reader(stream, ByteBufAllocator.DEFAULT, MAX_FRAME_BYTES, frame -> {
                    try {
                        inbound.accept(stream.remotePeer(), StepFrame.decode(frame.nioBuffer()));
                    } finally {
                        frame.release();
                    }
                });
            }
            try {
                reader.feed(data);
            } catch (IllegalArgumentException e) {
                LOG.log(Level.WARNING, "bad activation frame from " + stream.remotePeer() + ": " + e.getMessage());
                close();
                stream.reset();
            }
        }

        @Override
        public void onRemoteClose(P2pStream stream) {
            close();
        }

        @Override
        public void onReset(P2pStream stream, Throwable cause) {
            close();
        }

        private void close() {
            if (reader != null) {
                reader.close();
                reader = null;
            }
        }
    }
}

package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.rpc.FrameCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.util.function.LongSupplier;

/**
 * Serves {@code /rendezvous/1.0.0} on a node: peers REGISTER their signed peer records under a namespace and others
 * DISCOVER them. A stream may carry several requests one after another (go-libp2p's client reuses streams); each
 * REGISTER and DISCOVER gets one response, UNREGISTER none. In a Parallax cluster the scheduler is the point, so a
 * node that knows only the scheduler's address can find any member by its peer id.
 */
public final class RendezvousPoint {
    public static final String PROTOCOL_ID = "/rendezvous/1.0.0";
    /** A REGISTER carries one signed record (a few hundred bytes); anything far larger is not a rendezvous request. */
    static final int MAX_REQUEST_BYTES = 64 * 1024;

    private static final System.Logger LOG = System.getLogger(RendezvousPoint.class.getName());

    private final RendezvousRegistry registry;
    private final LongSupplier nanoTime;

    public RendezvousPoint(RendezvousRegistry registry, LongSupplier nanoTime) {
        this.registry = registry;
        this.nanoTime = nanoTime;
    }

    /** A point holding at most 10 000 registrations, on the system clock, serving on {@code node}. */
    public static RendezvousPoint serve(P2pNode node) {
        RendezvousPoint point = new RendezvousPoint(new RendezvousRegistry(10_000), System::nanoTime);
        point.install(node);
        return point;
    }

    public void install(P2pNode node) {
        node.handle(PROTOCOL_ID, Session::new);
    }

    public RendezvousRegistry registry() {
        return registry;
    }

    private final class Session implements StreamHandler {
        private FrameCodec.Reader reader;

        @Override
        public void onData(P2pStream stream, ByteBuf data) {
            if (reader == null) {
                reader = new FrameCodec.Reader(stream, ByteBufAllocator.DEFAULT, MAX_REQUEST_BYTES, frame -> {
                    try {
                        answer(stream, ByteBufUtil.getBytes(frame));
                    } finally {
                        frame.release();
                    }
                });
            }
            try {
                reader.feed(data);
            } catch (IllegalArgumentException e) {
                LOG.log(System.Logger.Level.INFO, "resetting rendezvous stream from {0}: {1}", stream.remotePeer(),
                        e.getMessage());
                close();
                stream.reset();
            }
        }

        private void answer(P2pStream stream, byte[] request) {
            RendezvousMessage m = RendezvousMessage.decode(request);
            RendezvousMessage response;
            synchronized (registry) {
                response = switch (m) {
                    case RendezvousMessage.Register r -> registry.register(stream.remotePeer(), r, nanoTime.getAsLong());
                    case RendezvousMessage.Discover d -> registry.discover(d, nanoTime.getAsLong());
                    case RendezvousMessage.Unregister u -> {
                        registry.unregister(stream.remotePeer(), u.namespace());
                        yield null;
                    }
                    default -> throw new IllegalArgumentException("a rendezvous point is not sent " +
                            m.getClass().getSimpleName());
                };
            }
            if (response instanceof RendezvousMessage.RegisterResponse rr && rr.status() != RendezvousMessage.Status.OK) {
                LOG.log(System.Logger.Level.INFO, "refused registration of {0}: {1} {2}", stream.remotePeer(),
                        rr.status(), rr.statusText());
            }
            if (response != null) {
                stream.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, Unpooled.wrappedBuffer(response.encode())));
            }
        }

        @Override
        public void onRemoteClose(P2pStream stream) {
            close();
            stream.closeWrite();
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

package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Discover;
import ai.parallax.p2p.rendezvous.RendezvousMessage.DiscoverResponse;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Register;
import ai.parallax.p2p.rendezvous.RendezvousMessage.RegisterResponse;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Status;
import ai.parallax.p2p.rpc.FrameCodec;
import ai.parallax.p2p.rpc.RequestResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The client side of {@code /rendezvous/1.0.0}, one stream per request, against a point we are connected to.
 * Registrations carry a fresh {@link SignedPeerRecord} of the node's listen addresses.
 */
public final class RendezvousClient {
    /** The namespace Parallax nodes register under. */
    public static final String PARALLAX_NAMESPACE = "parallax";
    /** A DISCOVER answer of 1000 registrations of about 300 bytes each, with room to spare. */
    static final int MAX_RESPONSE_BYTES = 1024 * 1024;

    private final P2pNode node;
    private final Duration timeout;

    public RendezvousClient(P2pNode node, Duration timeout) {
        this.node = node;
        this.timeout = timeout;
    }

    /** Registers this node at {@code point}; completes with the TTL the point granted. */
    public CompletableFuture<Duration> register(PeerId point, String namespace, Duration ttl) {
        byte[] record = node.peerRecord().envelope();
        return exchange(point, new Register(namespace, record, ttl.toSeconds())).thenApply(m -> {
            if (!(m instanceof RegisterResponse r)) {
                throw new P2pException("rendezvous point " + point + " answered REGISTER with " + m.getClass().getSimpleName());
            }
            if (r.status() != Status.OK) {
                throw new P2pException("rendezvous point " + point + " refused our registration in '" + namespace
                        + "': " + r.status() + " " + r.statusText());
            }
            return Duration.ofSeconds(r.ttlSeconds());
        });
    }

    /**
     * The peers registered in {@code namespace} (all namespaces if empty). Records whose signature does not verify
     * are dropped: the point cannot vouch for addresses, only their owner can.
     */
    public CompletableFuture<List<SignedPeerRecord>> discover(PeerId point, String namespace, int limit) {
        return exchange(point, new Discover(namespace, limit, new byte[0])).thenApply(m -> {
            if (!(m instanceof DiscoverResponse r)) {
                throw new P2pException("rendezvous point " + point + " answered DISCOVER with " + m.getClass().getSimpleName());
            }
            if (r.status() != Status.OK) {
                throw new P2pException("rendezvous point " + point + " refused DISCOVER '" + namespace + "': "
                        + r.status() + " " + r.statusText());
            }
            List<SignedPeerRecord> records = new ArrayList<>();
            for (Register reg : r.registrations()) {
                try {
                    records.add(SignedPeerRecord.decode(reg.signedPeerRecord()));
                } catch (IllegalArgumentException forged) {
                    System.getLogger(RendezvousClient.class.getName()).log(System.Logger.Level.WARNING,
                            "rendezvous point {0} handed out an invalid peer record: {1}", point, forged.getMessage());
                }
            }
            return List.copyOf(records);
        });
    }

    /** Withdraws this node's registration; the point does not answer, so this completes once the request is sent. */
    public CompletableFuture<Void> unregister(PeerId point, String namespace) {
        byte[] m = new RendezvousMessage.Unregister(namespace, node.peerId().toBytes()).encode();
        return node.openStream(point, RendezvousPoint.PROTOCOL_ID, (s, d) -> { }).thenCompose(s -> {
            CompletableFuture<Void> sent = s.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, Unpooled.wrappedBuffer(m)));
            s.closeWrite();
            return sent;
        });
    }

    private CompletableFuture<RendezvousMessage> exchange(PeerId point, RendezvousMessage request) {
        return RequestResponse.request(node, point, RendezvousPoint.PROTOCOL_ID, Unpooled.wrappedBuffer(request.encode()),
                MAX_RESPONSE_BYTES, timeout).thenApply(response -> {
                    try {
                        return RendezvousMessage.decode(ByteBufUtil.getBytes(response));
                    } finally {
                        response.release();
                    }
                });
    }

}

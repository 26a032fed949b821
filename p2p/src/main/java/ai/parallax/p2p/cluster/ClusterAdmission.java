package ai.parallax.p2p.cluster;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.rpc.ParallaxProtocols;
import ai.parallax.p2p.rpc.RequestResponse;
import io.netty.buffer.Unpooled;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The join-token gate of a cluster's scheduler. Noise already proves who a peer is; admission decides whether that
 * peer belongs to this cluster. A peer first presents the token on {@code /parallax/admit/1.0.0}; until it has, every
 * other {@code /parallax/…} protocol is refused at negotiation and the refusal is logged with its peer id. libp2p's
 * own protocols (identify, ping) stay open, as they reveal nothing about the cluster.
 */
public final class ClusterAdmission {
    public static final String PROTOCOL = ParallaxProtocols.id("admit");
    private static final System.Logger LOG = System.getLogger(ClusterAdmission.class.getName());
    private static final byte ADMITTED = 1;
    private static final byte REFUSED = 0;

    private final JoinToken token;
    private final Set<PeerId> admitted = ConcurrentHashMap.newKeySet();

    public ClusterAdmission(JoinToken token) {
        this.token = token;
    }

    /** Guards {@code node}: serves the admit protocol and refuses cluster protocols to peers not admitted. */
    public void install(P2pNode node) {
        RequestResponse.serve(node, PROTOCOL, (peer, request) -> {
            String presented = request.toString(StandardCharsets.UTF_8);
            boolean ok = token.matches(presented);
            if (ok) {
                admitted.add(peer);
                LOG.log(System.Logger.Level.INFO, "admitted peer {0}", peer);
            } else {
                LOG.log(System.Logger.Level.WARNING, "refused peer {0}: wrong join token", peer);
            }
            return CompletableFuture.completedFuture(Unpooled.wrappedBuffer(new byte[] {ok ? ADMITTED : REFUSED}));
        });
        node.inboundFilter((peer, protocol) -> !protocol.startsWith("/parallax/") || protocol.equals(PROTOCOL)
                || admitted.contains(peer));
    }

    public boolean isAdmitted(PeerId peer) {
        return admitted.contains(peer);
    }

    /** Withdraws a peer's admission, e.g. when it leaves the cluster. */
    public void forget(PeerId peer) {
        admitted.remove(peer);
    }

    /** Presents {@code token} to a connected scheduler; fails with a clear message if it is refused. */
    public static CompletableFuture<Void> present(P2pNode node, PeerId scheduler, String token, Duration timeout) {
        return RequestResponse.request(node, scheduler, PROTOCOL, Unpooled.copiedBuffer(token, StandardCharsets.UTF_8), timeout)
                .thenAccept(reply -> {
                    try {
                        if (!reply.isReadable() || reply.readByte() != ADMITTED) {
                            throw new P2pException("scheduler " + scheduler + " refused our join token");
                        }
                    } finally {
                        reply.release();
                    }
                });
    }
}

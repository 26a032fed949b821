package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.PeerRouting;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Finds peers through a bootstrap list of rendezvous points, asked one after another: a point that is itself the
 * peer answers by the Noise handshake of the dial; otherwise its DISCOVER answer for the namespace is searched for
 * a signed record of the peer. Bootstrap addresses may omit /p2p: the handshake tells who answered.
 */
public final class RendezvousRouting implements PeerRouting {
    private final P2pNode node;
    private final List<Multiaddr> points;
    private final String namespace;
    private final RendezvousClient client;

    public RendezvousRouting(P2pNode node, List<Multiaddr> points, String namespace, Duration timeout) {
        this.node = node;
        this.points = List.copyOf(points);
        this.namespace = namespace;
        this.client = new RendezvousClient(node, timeout);
    }

    @Override
    public CompletableFuture<List<Multiaddr>> findPeer(PeerId peer) {
        List<String> failures = new ArrayList<>();
        CompletableFuture<List<Multiaddr>> result = CompletableFuture.completedFuture(List.of());
        for (Multiaddr point : points) {
            result = result.thenCompose(found -> !found.isEmpty() ? CompletableFuture.completedFuture(found)
                    : ask(point, peer).exceptionally(e -> {
                        failures.add(point + ": " + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()));
                        return List.of();
                    }));
        }
        return result.thenCompose(found -> found.isEmpty() && failures.size() == points.size() && !points.isEmpty()
                ? CompletableFuture.failedFuture(new P2pException("no rendezvous point answered: " + failures))
                : CompletableFuture.completedFuture(found));
    }

    private CompletableFuture<List<Multiaddr>> ask(Multiaddr point, PeerId peer) {
        return node.dial(point).thenCompose(connection -> {
            if (connection.remotePeer().equals(peer)) {
                return CompletableFuture.completedFuture(List.of(point.value(Multiaddr.Protocol.P2P).isPresent()
                        ? point : point.with(Multiaddr.Protocol.P2P, peer.toString())));
            }
            return client.discover(connection.remotePeer(), namespace, 0).thenApply(records -> records.stream()
                    .filter(r -> r.peerId().equals(peer))
                    .findFirst()
                    .map(SignedPeerRecord::dialableAddresses)
                    .orElse(List.of()));
        });
    }

    @Override
    public String describe() {
        return "rendezvous (namespace '" + namespace + "') at " + points;
    }
}

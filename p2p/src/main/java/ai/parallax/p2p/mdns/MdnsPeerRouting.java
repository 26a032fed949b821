package ai.parallax.p2p.mdns;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.PeerRouting;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Finds peers on the LAN with mDNS: every peer that answers is remembered in the node's address book, and a lookup
 * sends a query at once and waits up to {@code wait} for the peer to answer.
 */
public final class MdnsPeerRouting implements PeerRouting, AutoCloseable {
    private final P2pNode node;
    private final Duration wait;
    private final MdnsDiscovery discovery;
    private final Map<PeerId, CompletableFuture<List<Multiaddr>>> waiting = new ConcurrentHashMap<>();

    /**
     * @param announce whether to answer other peers' queries with our addresses (a node that only looks, such as
     *                 {@code join} resolving its scheduler, stays silent)
     */
    public MdnsPeerRouting(P2pNode node, boolean announce, InetSocketAddress group, NetworkInterface networkInterface,
                           Duration queryInterval, Duration wait) throws IOException {
        this.node = node;
        this.wait = wait;
        this.discovery = new MdnsDiscovery(node.peerId(), announce ? node::listenAddrs : List::of, this::found,
                group, networkInterface, queryInterval).start();
    }

    /** On the real mDNS group, querying every 10 s and waiting 5 s for an answer. */
    public static MdnsPeerRouting onLan(P2pNode node, boolean announce) throws IOException {
        return new MdnsPeerRouting(node, announce, MdnsDiscovery.MDNS_GROUP, null, Duration.ofSeconds(10),
                Duration.ofSeconds(5));
    }

    private void found(PeerId peer, List<Multiaddr> addresses) {
        node.addAddresses(peer, addresses);
        CompletableFuture<List<Multiaddr>> w = waiting.remove(peer);
        if (w != null) {
            w.complete(addresses);
        }
    }

    @Override
    public CompletableFuture<List<Multiaddr>> findPeer(PeerId peer) {
        CompletableFuture<List<Multiaddr>> w = waiting.computeIfAbsent(peer, k -> new CompletableFuture<>());
        try {
            discovery.query();
        } catch (IOException e) {
            waiting.remove(peer, w);
            return CompletableFuture.failedFuture(new UncheckedIOException("cannot send an mDNS query", e));
        }
        return w.completeOnTimeout(List.of(), wait.toMillis(), TimeUnit.MILLISECONDS)
                .whenComplete((r, e) -> waiting.remove(peer, w));
    }

    @Override
    public String describe() {
        return "mDNS on the LAN (waited " + wait.toSeconds() + " s)";
    }

    @Override
    public void close() {
        discovery.close();
    }
}

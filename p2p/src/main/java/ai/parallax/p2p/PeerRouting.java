package ai.parallax.p2p;

import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Finds addresses for a peer known only by its id: mDNS on the LAN, or rendezvous points from a bootstrap list.
 * {@link P2pNode#dial(PeerId)} asks its routings in order when it knows no address that works.
 */
public interface PeerRouting {
    /**
     * Addresses at which {@code peer} may be reached (possibly empty: not found). A failure means the routing
     * itself could not be asked, e.g. a bootstrap node was down.
     */
    CompletableFuture<List<Multiaddr>> findPeer(PeerId peer);

    /** What this routing asks, for error messages: "mDNS on the LAN", "rendezvous at /ip4/…". */
    String describe();
}

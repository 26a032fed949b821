package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.mdns.MdnsPeerRouting;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.rendezvous.RendezvousClient;
import ai.parallax.p2p.rendezvous.RendezvousRouting;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Turns a bare peer id into a full, working multiaddr before a program commits to an identity and a port: a
 * short-lived node with a throwaway key asks mDNS on the LAN and the bootstrap rendezvous points, dials what they
 * report, and returns the address the peer proved its id on ({@code /ip4/…/tcp/…/p2p/<peer>}).
 */
public final class PeerLocator {
    private PeerLocator() {
    }

    /**
     * @param bootstrap rendezvous points to ask (their /p2p part may be missing), after mDNS
     * @param lan       whether to ask mDNS on the LAN first
     * @throws P2pException naming what was asked, if the peer cannot be found or reached within {@code timeout}
     */
    public static Multiaddr locate(PeerId peer, List<Multiaddr> bootstrap, boolean lan, Duration timeout)
            throws P2pException {
        if (!lan && bootstrap.isEmpty()) {
            throw new P2pException("cannot find peer " + peer + " by its id alone: mDNS is off and no bootstrap "
                    + "address was given; pass its full multiaddr (/ip4/…/tcp/…/p2p/" + peer + ") or --bootstrap");
        }
        List<AutoCloseable> resources = new ArrayList<>();
        // The node only dials: it is never started, so it listens nowhere and announces nothing.
        try (P2pNode node = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults()
                .withIdleTimeout(Duration.ZERO))) {
            if (lan) {
                try {
                    MdnsPeerRouting mdns = MdnsPeerRouting.onLan(node, false);
                    resources.add(mdns);
                    node.addRouting(mdns);
                } catch (IOException e) {
                    if (bootstrap.isEmpty()) {
                        throw new P2pException("cannot find peer " + peer + ": mDNS is unavailable here ("
                                + e.getMessage() + ") and no --bootstrap address was given", e);
                    }
                }
            }
            if (!bootstrap.isEmpty()) {
                node.addRouting(new RendezvousRouting(node, bootstrap, RendezvousClient.PARALLAX_NAMESPACE, timeout));
            }
            P2pConnection c = node.dial(peer).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return c.remoteAddress().with(Multiaddr.Protocol.P2P, peer.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new P2pException("interrupted while looking for peer " + peer, e);
        } catch (TimeoutException e) {
            throw new P2pException("peer " + peer + " was not found within " + timeout.toSeconds() + " s (asked "
                    + (lan ? "mDNS on the LAN" : "") + (lan && !bootstrap.isEmpty() ? " and " : "")
                    + (bootstrap.isEmpty() ? "" : "rendezvous at " + bootstrap) + ")", e);
        } catch (ExecutionException e) {
            throw new P2pException(e.getCause().getMessage(), e.getCause());
        } finally {
            for (AutoCloseable r : resources) {
                try {
                    r.close();
                } catch (Exception ignored) {
                    // best effort
                }
            }
        }
    }
}

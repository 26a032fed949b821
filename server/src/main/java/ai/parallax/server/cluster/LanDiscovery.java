package ai.parallax.server.cluster;

import ai.parallax.p2p.P2pConnection;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.cluster.ClusterAdmission;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.mdns.MdnsDiscovery;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.server.UserError;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Finding the scheduler on the local network, for {@code parallax join} without {@code -s}. {@code serve} announces
 * the scheduler's P2P addresses over mDNS (libp2p's {@code _p2p._udp.local} service, {@link MdnsDiscovery}, through
 * {@code MdnsPeerRouting}); a joining node listens for a few seconds and then asks each peer it heard whether it admits the join token. Any libp2p peer on
 * the LAN may answer mDNS, so only a peer that admits the token counts as this cluster's scheduler.
 */
public final class LanDiscovery {
    /** The mDNS group; tests use another port so they neither disturb nor hear the LAN's real responders. */
    public static InetSocketAddress group(int port) {
        return new InetSocketAddress(MdnsDiscovery.MDNS_GROUP.getAddress(), port);
    }

    private LanDiscovery() {
    }

    /** Every peer heard on the LAN within {@code wait}, with its addresses, in the order heard. */
    static Map<PeerId, List<Multiaddr>> listen(int port, Duration wait) {
        Map<PeerId, List<Multiaddr>> found = new LinkedHashMap<>();
        PeerId self = IdentityKeyPair.generate().peerId();
        try (MdnsDiscovery d = new MdnsDiscovery(self, List::of, (peer, addrs) -> {
            synchronized (found) {
                found.putIfAbsent(peer, List.copyOf(addrs));
            }
        }, group(port), null, Duration.ofSeconds(1)).start()) {
            Thread.sleep(wait.toMillis());
        } catch (IOException e) {
            throw new UserError("cannot listen for the scheduler on the LAN (mDNS on " + group(port) + "): "
                    + e.getMessage() + "; pass -s with the address 'parallax serve' printed");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while looking for the scheduler", e);
        }
        synchronized (found) {
            return new LinkedHashMap<>(found);
        }
    }

    /**
     * Finds this cluster's scheduler on the LAN: listens for {@code wait}, then offers {@code token} to each peer
     * heard, and returns the address of the first that admits it. Says on {@code log} what it found; when nothing
     * answers, or no peer admits the token, throws a {@link UserError} that lists what was heard.
     */
    public static String findScheduler(int port, Duration wait, String token, PrintWriter log) {
        if (token == null) {
            throw new UserError("join needs the cluster's join token: pass --token as printed by 'parallax serve'");
        }
        Map<PeerId, List<Multiaddr>> heard = listen(port, wait);
        if (heard.isEmpty()) {
            throw new UserError("no scheduler answered on the LAN (mDNS) within " + wait.toSeconds() + " s; start "
                    + "'parallax serve' on this network, or pass -s with the address it printed");
        }
        if (heard.size() > 1) {
            log.printf(Locale.ROOT, "found %d peers on the LAN; trying the join token on each:%n", heard.size());
            heard.forEach((peer, addrs) -> log.printf(Locale.ROOT, "  %s at %s%n", peer, addrs));
            log.flush();
        }
        List<String> refusals = new ArrayList<>();
        IdentityKeyPair probe = IdentityKeyPair.generate();
        try (P2pNode node = new P2pNode(probe, P2pNode.Options.defaults().withHost("127.0.0.1").withPort(0))) {
            node.start();
            for (Map.Entry<PeerId, List<Multiaddr>> candidate : heard.entrySet()) {
                for (Multiaddr address : candidate.getValue()) {
                    try {
                        P2pConnection c = node.dial(address).get(5, TimeUnit.SECONDS);
                        ClusterAdmission.present(node, c.remotePeer(), token, Duration.ofSeconds(5)).get();
                        log.printf(Locale.ROOT, "found the scheduler on the LAN: %s%n", address);
                        log.flush();
                        return address.toString();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while looking for the scheduler", e);
                    } catch (Exception e) {
                        refusals.add(address + ": " + ClusterWorker.rootMessage(e));
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while looking for the scheduler", e);
        }
        throw new UserError("found " + heard.size() + " peer" + (heard.size() == 1 ? "" : "s") + " on the LAN, but "
                + "none admits this join token (" + String.join("; ", refusals) + "); check --token, or pass -s");
    }
}

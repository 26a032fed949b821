package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.P2pConnection;
import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.PeerLocator;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.multiformats.Multiaddr;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Three of our nodes: C registers at the rendezvous point R; A knows only R's address and C's bare peer id. */
class RendezvousDialTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private P2pNode r;
    private P2pNode c;
    private P2pNode a;

    @BeforeEach
    void start() throws Exception {
        r = node();
        RendezvousPoint.serve(r);
        c = node();
        a = node();
        c.dial(r.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        Duration granted = new RendezvousClient(c, TIMEOUT).register(r.peerId(), RendezvousClient.PARALLAX_NAMESPACE,
                Duration.ofMinutes(10)).get(5, TimeUnit.SECONDS);
        assertThat(granted).isEqualTo(Duration.ofMinutes(10));
    }

    @AfterEach
    void stop() {
        a.close();
        c.close();
        r.close();
    }

    private static P2pNode node() throws InterruptedException {
        return new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
    }

    @Test
    void peerIsDialedByBareIdThroughTheRendezvousPoint() throws Exception {
        assertThat(a.addresses(c.peerId())).isEmpty();
        // the bootstrap address may leave out /p2p: the Noise handshake tells A who answered
        a.addRouting(new RendezvousRouting(a, List.of(r.listenAddrs().getFirst().withoutPeerId()),
                RendezvousClient.PARALLAX_NAMESPACE, TIMEOUT));

        P2pConnection connection = a.dial(c.peerId()).get(10, TimeUnit.SECONDS);

        assertThat(connection.remotePeer()).isEqualTo(c.peerId());
        assertThat(a.ping(c.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
        assertThat(a.addresses(c.peerId())).contains(c.listenAddrs().getFirst());
    }

    @Test
    void discoverReturnsTheSignedRecordOfEachRegisteredPeer() throws Exception {
        a.dial(r.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        List<SignedPeerRecord> found = new RendezvousClient(a, TIMEOUT).discover(r.peerId(),
                RendezvousClient.PARALLAX_NAMESPACE, 0).get(5, TimeUnit.SECONDS);
        assertThat(found).singleElement().satisfies(rec -> {
            assertThat(rec.peerId()).isEqualTo(c.peerId());
            assertThat(rec.dialableAddresses()).containsExactlyElementsOf(c.listenAddrs());
        });
    }

    @Test
    void unregisteredPeerIsNoLongerDiscovered() throws Exception {
        new RendezvousClient(c, TIMEOUT).unregister(r.peerId(), RendezvousClient.PARALLAX_NAMESPACE).get(5, TimeUnit.SECONDS);
        a.dial(r.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        RendezvousClient client = new RendezvousClient(a, TIMEOUT);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        List<SignedPeerRecord> found;
        do { // the UNREGISTER has no answer, so it may land just after our DISCOVER
            found = client.discover(r.peerId(), RendezvousClient.PARALLAX_NAMESPACE, 0).get(5, TimeUnit.SECONDS);
        } while (!found.isEmpty() && System.nanoTime() < deadline);
        assertThat(found).isEmpty();
    }

    @Test
    void theRendezvousPointItselfIsFoundByItsId() throws Exception {
        a.addRouting(new RendezvousRouting(a, List.of(r.listenAddrs().getFirst().withoutPeerId()),
                RendezvousClient.PARALLAX_NAMESPACE, TIMEOUT));
        assertThat(a.dial(r.peerId()).get(5, TimeUnit.SECONDS).remotePeer()).isEqualTo(r.peerId());
    }

    @Test
    void unknownPeerFailsNamingWhatWasAsked() {
        a.addRouting(new RendezvousRouting(a, List.of(r.listenAddrs().getFirst()), RendezvousClient.PARALLAX_NAMESPACE,
                TIMEOUT));
        var nobody = IdentityKeyPair.generate().peerId();
        assertThatThrownBy(() -> a.dial(nobody).get(10, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .hasMessageContaining("cannot find peer " + nobody)
                .hasMessageContaining("rendezvous (namespace 'parallax') at")
                .hasMessageContaining("does not know it");
    }

    @Test
    void withoutAnyRoutingTheErrorSaysSo() {
        var nobody = IdentityKeyPair.generate().peerId();
        assertThatThrownBy(() -> a.dial(nobody).get(5, TimeUnit.SECONDS))
                .hasMessageContaining("no known address and no mDNS or bootstrap/rendezvous peers to ask");
    }

    @Test
    void locatorResolvesABareIdToAWorkingFullAddress() {
        Multiaddr found = PeerLocator.locate(c.peerId(), List.of(r.listenAddrs().getFirst()), false, TIMEOUT);
        assertThat(found.toString()).startsWith("/ip4/127.0.0.1/tcp/").endsWith("/p2p/" + c.peerId());
        assertThat(found).isEqualTo(c.listenAddrs().getFirst());
    }

    @Test
    void locatorWithNothingToAskRefusesAtOnce() {
        assertThatThrownBy(() -> PeerLocator.locate(c.peerId(), List.of(), false, TIMEOUT))
                .isInstanceOf(P2pException.class)
                .hasMessageContaining("no bootstrap address was given");
    }
}

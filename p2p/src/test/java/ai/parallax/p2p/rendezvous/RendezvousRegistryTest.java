package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Discover;
import ai.parallax.p2p.rendezvous.RendezvousMessage.DiscoverResponse;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Register;
import ai.parallax.p2p.rendezvous.RendezvousMessage.Status;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RendezvousRegistryTest {
    private static final long SECOND = 1_000_000_000L;
    private final IdentityKeyPair alice = IdentityKeyPair.generate();
    private final IdentityKeyPair bob = IdentityKeyPair.generate();

    private static byte[] record(IdentityKeyPair id, long seq) {
        return SignedPeerRecord.create(id, seq, List.of(Multiaddr.parse("/ip4/10.0.0.1/tcp/4001"))).envelope();
    }

    @Test
    void signedRecordRoundTripsAndProvesItsPeer() {
        SignedPeerRecord r = SignedPeerRecord.create(alice, 7, List.of(
                Multiaddr.parse("/ip4/10.0.0.1/tcp/4001/p2p/" + alice.peerId()), Multiaddr.parse("/ip6/::1/tcp/4001")));
        SignedPeerRecord back = SignedPeerRecord.decode(r.envelope());
        assertThat(back.peerId()).isEqualTo(alice.peerId());
        assertThat(back.seq()).isEqualTo(7);
        assertThat(back.addresses()).containsExactly(Multiaddr.parse("/ip4/10.0.0.1/tcp/4001"),
                Multiaddr.parse("/ip6/::1/tcp/4001"));
    }

    @Test
    void tamperedRecordIsRejected() {
        byte[] env = record(alice, 1);
        env[env.length - 70] ^= 1; // inside the payload, before the 64-byte signature
        assertThatThrownBy(() -> SignedPeerRecord.decode(env)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("signature");
    }

    @Test
    void peerMayOnlyRegisterItself() {
        RendezvousRegistry reg = new RendezvousRegistry(100);
        var response = reg.register(bob.peerId(), new Register("ns", record(alice, 1), 60), 0);
        assertThat(response.status()).isEqualTo(Status.E_NOT_AUTHORIZED);
        assertThat(reg.size()).isZero();
    }

    @Test
    void malformedRecordNamespaceAndTtlAreRefusedWithTheirStatus() {
        RendezvousRegistry reg = new RendezvousRegistry(100);
        assertThat(reg.register(alice.peerId(), new Register("ns", new byte[]{1, 2, 3}, 60), 0).status())
                .isEqualTo(Status.E_INVALID_SIGNED_PEER_RECORD);
        assertThat(reg.register(alice.peerId(), new Register("", record(alice, 1), 60), 0).status())
                .isEqualTo(Status.E_INVALID_NAMESPACE);
        assertThat(reg.register(alice.peerId(), new Register("x".repeat(256), record(alice, 1), 60), 0).status())
                .isEqualTo(Status.E_INVALID_NAMESPACE);
        assertThat(reg.register(alice.peerId(), new Register("ns", record(alice, 1), 73 * 3600), 0).status())
                .isEqualTo(Status.E_INVALID_TTL);
        assertThat(reg.discover(new Discover("ns", 0, new byte[3]), 0).status()).isEqualTo(Status.E_INVALID_COOKIE);
    }

    @Test
    void registrationsExpireAfterTheirTtlAndDefaultToTwoHours() {
        RendezvousRegistry reg = new RendezvousRegistry(100);
        assertThat(reg.register(alice.peerId(), new Register("ns", record(alice, 1), 60), 0).ttlSeconds()).isEqualTo(60);
        assertThat(reg.register(bob.peerId(), new Register("ns", record(bob, 1), 0), 0).ttlSeconds()).isEqualTo(7200);
        assertThat(peers(reg.discover(new Discover("ns", 0, new byte[0]), 59 * SECOND))).hasSize(2);
        assertThat(peers(reg.discover(new Discover("ns", 0, new byte[0]), 61 * SECOND))).containsExactly(bob.peerId().toString());
        assertThat(reg.size()).isEqualTo(1);
    }

    @Test
    void cookieReturnsOnlyNewerRegistrationsAndLimitCaps() {
        RendezvousRegistry reg = new RendezvousRegistry(100);
        reg.register(alice.peerId(), new Register("ns", record(alice, 1), 60), 0);
        DiscoverResponse first = reg.discover(new Discover("ns", 0, new byte[0]), 0);
        assertThat(peers(first)).containsExactly(alice.peerId().toString());
        reg.register(bob.peerId(), new Register("ns", record(bob, 1), 60), 0);
        assertThat(peers(reg.discover(new Discover("ns", 0, first.cookie()), 0))).containsExactly(bob.peerId().toString());
        assertThat(peers(reg.discover(new Discover("ns", 1, new byte[0]), 0))).containsExactly(alice.peerId().toString());
        assertThat(peers(reg.discover(new Discover("other", 0, new byte[0]), 0))).isEmpty();
        assertThat(peers(reg.discover(new Discover("", 0, new byte[0]), 0))).hasSize(2);
    }

    @Test
    void olderRecordDoesNotReplaceANewerOne() {
        RendezvousRegistry reg = new RendezvousRegistry(100);
        reg.register(alice.peerId(), new Register("ns", record(alice, 5), 60), 0);
        assertThat(reg.register(alice.peerId(), new Register("ns", record(alice, 4), 60), 0).status())
                .isEqualTo(Status.E_INVALID_SIGNED_PEER_RECORD);
        assertThat(reg.register(alice.peerId(), new Register("ns", record(alice, 6), 60), 0).status()).isEqualTo(Status.OK);
        assertThat(reg.size()).isEqualTo(1);
    }

    @Test
    void fullPointAnswersUnavailable() {
        RendezvousRegistry reg = new RendezvousRegistry(1);
        reg.register(alice.peerId(), new Register("ns", record(alice, 1), 60), 0);
        assertThat(reg.register(bob.peerId(), new Register("ns", record(bob, 1), 60), 0).status())
                .isEqualTo(Status.E_UNAVAILABLE);
    }

    @Test
    void messagesRoundTripThroughTheirProtobuf() {
        var d = new RendezvousMessage.DiscoverResponse(List.of(new Register("ns", record(alice, 1), 30)),
                new byte[]{0, 0, 0, 0, 0, 0, 0, 9}, Status.OK, "");
        var back = (RendezvousMessage.DiscoverResponse) RendezvousMessage.decode(d.encode());
        assertThat(back.registrations()).singleElement().satisfies(r -> {
            assertThat(r.namespace()).isEqualTo("ns");
            assertThat(r.ttlSeconds()).isEqualTo(30);
            assertThat(SignedPeerRecord.decode(r.signedPeerRecord()).peerId()).isEqualTo(alice.peerId());
        });
        assertThat(back.cookie()).containsExactly(0, 0, 0, 0, 0, 0, 0, 9);
        // type REGISTER_RESPONSE (1), registerResponse { status E_INVALID_TTL (102), ttl 0 }: hand-encoded protobuf
        byte[] wire = {0x08, 0x01, 0x1a, 0x04, 0x08, 0x66, 0x18, 0x00};
        var rr = (RendezvousMessage.RegisterResponse) RendezvousMessage.decode(wire);
        assertThat(rr.status()).isEqualTo(Status.E_INVALID_TTL);
    }

    private static List<String> peers(DiscoverResponse r) {
        assertThat(r.status()).isEqualTo(Status.OK);
        return r.registrations().stream().map(x -> SignedPeerRecord.decode(x.signedPeerRecord()).peerId().toString()).toList();
    }
}

package ai.parallax.p2p.mdns;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class MdnsDiscoveryTest {
    private static final PeerId PEER = PeerId.parse("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");

    @Test
    void responseCarriesPtrAndDnsaddrTxt() throws IOException {
        List<Multiaddr> addrs = List.of(Multiaddr.parse("/ip4/192.168.1.5/tcp/4001/p2p/" + PEER),
                Multiaddr.parse("/ip6/fe80::1/tcp/4001/p2p/" + PEER));
        try (MdnsDiscovery d = new MdnsDiscovery(IdentityKeyPair.generate().peerId(), () -> addrs, (p, a) -> { },
                new InetSocketAddress("224.0.0.251", 0), null, Duration.ofSeconds(10))) {
            DnsMessage decoded = DnsMessage.decode(d.response().encode());
            assertThat(decoded.response()).isTrue();
            DnsMessage.Record ptr = decoded.answers().getFirst();
            assertThat(ptr.name()).isEqualTo("_p2p._udp.local");
            assertThat(ptr.ptr()).endsWith("._p2p._udp.local");
            DnsMessage.Record txt = decoded.additionals().getFirst();
            assertThat(txt.name()).isEqualTo(ptr.ptr());
            assertThat(MdnsDiscovery.peersIn(txt.txt())).isEqualTo(Map.of(PEER, addrs));
        }
    }

    @Test
    void queryMatchesRfc1035Layout() {
        byte[] q = new DnsMessage(0, false, List.of(new DnsMessage.Question("_p2p._udp.local", DnsMessage.TYPE_PTR)),
                List.of(), List.of()).encode();
        assertThat(HexFormat.of().formatHex(q)).isEqualTo("000000000001000000000000"
                + "045f703270045f756470056c6f63616c00" + "000c0001");
    }

    @Test
    void compressedNamesAreFollowed() {
        // header, question "_p2p._udp.local PTR", answer with name = pointer to offset 12 and PTR data "x" + pointer
        String hex = "000084000001000100000000"
                + "045f703270045f756470056c6f63616c00000c0001"
                + "c00c000c000100000078000401" + "78c00c";
        DnsMessage m = DnsMessage.decode(HexFormat.of().parseHex(hex));
        assertThat(m.answers().getFirst().name()).isEqualTo("_p2p._udp.local");
        assertThat(m.answers().getFirst().ptr()).isEqualTo("x._p2p._udp.local");
    }

    @Test
    void pointerLoopsAndTruncationAreRefused() {
        assertThatThrownBy(() -> DnsMessage.decode(HexFormat.of().parseHex("000000000001000000000000c00c000c0001")))
                .hasMessageContaining("does not point backwards");
        assertThatThrownBy(() -> DnsMessage.decode(HexFormat.of().parseHex("0000000000010000000000000a5f70")))
                .hasMessageContaining("runs past the end");
    }

    @Test
    void twoPeersFindEachOtherOverMulticast() throws Exception {
        InetSocketAddress testGroup = new InetSocketAddress("224.0.0.251", 45353); // not the real mDNS port
        IdentityKeyPair a = IdentityKeyPair.generate();
        IdentityKeyPair b = IdentityKeyPair.generate();
        List<Multiaddr> bAddrs = List.of(Multiaddr.parse("/ip4/127.0.0.1/tcp/4001/p2p/" + b.peerId()));
        CompletableFuture<List<Multiaddr>> foundB = new CompletableFuture<>();
        MdnsDiscovery da;
        MdnsDiscovery db;
        try {
            db = new MdnsDiscovery(b.peerId(), () -> bAddrs, (p, x) -> { }, testGroup, null, Duration.ofSeconds(10));
            da = new MdnsDiscovery(a.peerId(), List::of, (p, x) -> {
                if (p.equals(b.peerId())) {
                    foundB.complete(x);
                }
            }, testGroup, null, Duration.ofMillis(300));
        } catch (IOException noMulticast) {
            assumeTrue(false, "no multicast-capable interface here: " + noMulticast.getMessage());
            return;
        }
        try (da; db) {
            db.start();
            da.start();
            List<Multiaddr> found;
            try {
                found = foundB.get(5, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                assumeTrue(false, "multicast packets are not delivered on this host");
                return;
            }
            assertThat(found).isEqualTo(bAddrs);
        }
    }
}

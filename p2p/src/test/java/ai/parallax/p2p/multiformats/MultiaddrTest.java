package ai.parallax.p2p.multiformats;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.net.InetSocketAddress;
import java.util.HexFormat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MultiaddrTest {

    /** Binary forms produced by js-libp2p's @multiformats/multiaddr, an independent implementation. */
    @ParameterizedTest
    @CsvSource({
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq, "
                    + "047f000001060fa1a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e",
            "/ip6/::1/udp/1234/quic-v1, 2900000000000000000000000000000001910204d2cd03",
            "/dns4/example.com/tcp/80, 360b6578616d706c652e636f6d060050",
            "/ip6/2001:db8::1/tcp/443, 2920010db80000000000000000000000010601bb",
            "/dns6/a.b/udp/9, 3703612e6291020009",
    })
    void textAndBinaryFormsMatchJsLibp2p(String text, String hex) {
        Multiaddr a = Multiaddr.parse(text);
        assertThat(HexFormat.of().formatHex(a.toBytes())).isEqualTo(hex);
        Multiaddr back = Multiaddr.fromBytes(HexFormat.of().parseHex(hex));
        assertThat(back.toString()).isEqualTo(text);
        assertThat(back).isEqualTo(a);
    }

    @Test
    void cidPeerIdIsPrintedInBase58() {
        Multiaddr a = Multiaddr.parse("/ip4/10.0.0.1/tcp/1/p2p/bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
        assertThat(a.value(Multiaddr.Protocol.P2P)).hasValue("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
    }

    @Test
    void socketAddressConversions() {
        Multiaddr a = Multiaddr.tcp(new InetSocketAddress("127.0.0.1", 9000));
        assertThat(a.toString()).isEqualTo("/ip4/127.0.0.1/tcp/9000");
        assertThat(a.toTcpSocketAddress()).isEqualTo(new InetSocketAddress("127.0.0.1", 9000));
        assertThat(Multiaddr.parse("/ip4/1.2.3.4/tcp/5/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")
                .withoutPeerId().toString()).isEqualTo("/ip4/1.2.3.4/tcp/5");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "ip4/1.2.3.4|must start with '/'",
            "/ip4/1.2.3|not an IPv4 address",
            "/ip4/1.2.3.4/tcp/70000|outside 0..65535",
            "/ip4/1.2.3.4/tcp|needs a value",
            "/ip4/1.2.3.4/sctp/5|unknown protocol 'sctp'",
            "/ip6/1.2.3.4|not an IPv6 address",
    })
    void badTextIsRefusedWithTheReason(String text, String reason) {
        assertThatThrownBy(() -> Multiaddr.parse(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(reason);
    }

    @Test
    void truncatedBinaryIsRefused() {
        assertThatThrownBy(() -> Multiaddr.fromBytes(HexFormat.of().parseHex("047f0000")))
                .hasMessageContaining("truncated");
        assertThatThrownBy(() -> Multiaddr.fromBytes(HexFormat.of().parseHex("360b6578")))
                .hasMessageContaining("runs past the end");
    }
}

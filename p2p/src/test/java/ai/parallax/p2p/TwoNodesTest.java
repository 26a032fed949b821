package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.protocol.IdentifyInfo;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TwoNodesTest {
    private P2pNode a;
    private P2pNode b;

    @BeforeEach
    void start() throws InterruptedException {
        a = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        b = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
    }

    @AfterEach
    void stop() {
        a.close();
        b.close();
    }

    @Test
    void listenAddressesAreInFullForm() {
        Multiaddr addr = b.listenAddrs().getFirst();
        assertThat(addr.toString()).startsWith("/ip4/127.0.0.1/tcp/").endsWith("/p2p/" + b.peerId());
    }

    @Test
    void dialAuthenticatesIdentifiesAndPings() throws Exception {
        P2pConnection c = a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        assertThat(c.remotePeer()).isEqualTo(b.peerId());
        IdentifyInfo info = c.identify().get(5, TimeUnit.SECONDS);
        assertThat(info.publicKey().peerId()).isEqualTo(b.peerId());
        assertThat(info.protocols()).contains("/ipfs/ping/1.0.0", "/ipfs/id/1.0.0");
        assertThat(info.agentVersion()).startsWith("parallax/");
        Duration rtt = a.ping(b.peerId()).get(5, TimeUnit.SECONDS);
        assertThat(rtt).isPositive().isLessThan(Duration.ofSeconds(1));
        // b sees a, with a's proven id, and can identify it too
        P2pConnection back = waitFor(() -> b.connection(a.peerId()).orElse(null));
        assertThat(back.identify().get(5, TimeUnit.SECONDS).publicKey().peerId()).isEqualTo(a.peerId());
    }

    @Test
    void dialingTheWrongPeerIdFails() {
        PeerId impostor = IdentityKeyPair.generate().peerId();
        Multiaddr addr = b.listenAddrs().getFirst().withoutPeerId().with(Multiaddr.Protocol.P2P, impostor.toString());
        assertThatThrownBy(() -> a.dial(addr).get(5, TimeUnit.SECONDS))
                .hasMessageContaining("dialed peer " + impostor);
    }

    @Test
    void unsupportedProtocolIsRefused() throws Exception {
        a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        CompletableFuture<P2pStream> s = a.openStream(b.peerId(), "/parallax/nothing/1.0.0", (st, d) -> { });
        assertThatThrownBy(() -> s.get(5, TimeUnit.SECONDS)).hasMessageContaining("none of the proposed protocols");
    }

    @Test
    void streamEchoesAndHalfCloses() throws Exception {
        b.handle("/test/echo/1.0.0", () -> new StreamHandler() {
            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                stream.write(data.retainedDuplicate());
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                stream.closeWrite();
            }
        });
        a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        StringBuilder got = new StringBuilder();
        CompletableFuture<String> done = new CompletableFuture<>();
        P2pStream s = a.openStream(b.peerId(), "/test/echo/1.0.0", new StreamHandler() {
            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                got.append(data.toString(StandardCharsets.UTF_8));
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                done.complete(got.toString());
            }
        }).get(5, TimeUnit.SECONDS);
        s.write(Unpooled.copiedBuffer("hello ", StandardCharsets.UTF_8));
        s.write(Unpooled.copiedBuffer("world", StandardCharsets.UTF_8));
        s.closeWrite();
        assertThat(done.get(5, TimeUnit.SECONDS)).isEqualTo("hello world");
    }

    @Test
    void dialByPeerIdUsesKnownAddresses() throws Exception {
        assertThatThrownBy(() -> a.dial(b.peerId()).get(5, TimeUnit.SECONDS)).hasMessageContaining("no known address");
        Multiaddr dead = Multiaddr.parse("/ip4/127.0.0.1/tcp/1");
        a.addAddresses(b.peerId(), List.of(dead, b.listenAddrs().getFirst().withoutPeerId()));
        P2pConnection c = a.dial(b.peerId()).get(10, TimeUnit.SECONDS);
        assertThat(c.remotePeer()).isEqualTo(b.peerId());
        // identify taught b where a listens, so b can dial a by id too
        P2pConnection back = waitFor(() -> b.connection(a.peerId()).orElse(null));
        back.identify().get(5, TimeUnit.SECONDS);
        assertThat(b.addresses(a.peerId())).contains(a.listenAddrs().getFirst().withoutPeerId());
    }

    static <T> T waitFor(java.util.function.Supplier<T> s) throws InterruptedException {
        for (int i = 0; i < 500; i++) {
            T v = s.get();
            if (v != null) {
                return v;
            }
            Thread.sleep(10);
        }
        throw new AssertionError("condition not met within 5 s");
    }
}

package ai.parallax.p2p.cluster;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.rpc.ParallaxProtocols;
import ai.parallax.p2p.rpc.RequestResponse;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ClusterAdmissionTest {
    private final JoinToken token = JoinToken.generate();
    private P2pNode scheduler;
    private P2pNode worker;

    @BeforeEach
    void start() throws Exception {
        scheduler = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        new ClusterAdmission(token).install(scheduler);
        RequestResponse.serve(scheduler, ParallaxProtocols.HEARTBEAT,
                (from, req) -> CompletableFuture.completedFuture(Unpooled.wrappedBuffer(new byte[] {42})));
        worker = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        worker.dial(scheduler.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() {
        worker.close();
        scheduler.close();
    }

    @Test
    void tokenRoundTripsThroughText() {
        assertThat(token.toString()).hasSize(26);
        assertThat(JoinToken.parse(token.toString()).matches(token.toString())).isTrue();
        assertThat(token.matches(JoinToken.generate().toString())).isFalse();
        assertThat(token.matches("too short")).isFalse();
    }

    @Test
    void peerWithoutJoinTokenIsRefused() {
        assertThatThrownBy(() -> heartbeat()).hasMessageContaining("none of the proposed protocols");
        // ping stays open to anyone
        assertThat(worker.ping(scheduler.peerId()).join()).isPositive();
    }

    @Test
    void peerWithWrongTokenIsRefused() {
        assertThatThrownBy(() -> ClusterAdmission.present(worker, scheduler.peerId(), JoinToken.generate().toString(),
                Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS)).hasMessageContaining("refused our join token");
        assertThatThrownBy(() -> heartbeat()).hasMessageContaining("none of the proposed protocols");
    }

    @Test
    void peerWithTheTokenIsAdmitted() throws Exception {
        ClusterAdmission.present(worker, scheduler.peerId(), token.toString(), Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
        ByteBuf reply = heartbeat();
        assertThat(reply.readByte()).isEqualTo((byte) 42);
        reply.release();
    }

    private ByteBuf heartbeat() throws Exception {
        return RequestResponse.request(worker, scheduler.peerId(), ParallaxProtocols.HEARTBEAT, Unpooled.buffer(0),
                Duration.ofSeconds(5)).get(5, TimeUnit.SECONDS);
    }
}

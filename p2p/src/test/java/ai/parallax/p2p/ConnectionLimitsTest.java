package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConnectionLimitsTest {
    private static P2pNode node(P2pNode.Options options) throws InterruptedException {
        return new P2pNode(IdentityKeyPair.generate(), options.withHost("127.0.0.1")).start();
    }

    @Test
    void dialerRefusesASecondConnectionBeyondItsPerPeerLimit() throws Exception {
        try (P2pNode a = node(P2pNode.Options.defaults().withConnectionLimits(16, 1));
             P2pNode b = node(P2pNode.Options.defaults())) {
            P2pConnection first = a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .hasMessageContaining("refused")
                    .hasMessageContaining("limit (maxConnectionsPerPeer)");
            assertThat(first.isOpen()).isTrue();
            assertThat(a.ping(b.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
        }
    }

    @Test
    void listenerClosesAConnectionBeyondItsPerPeerLimit() throws Exception {
        try (P2pNode a = node(P2pNode.Options.defaults());
             P2pNode b = node(P2pNode.Options.defaults().withConnectionLimits(16, 1))) {
            P2pConnection first = a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            P2pConnection second;
            try {
                second = a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            } catch (ExecutionException refusedDuringUpgrade) {
                second = null; // b closed it before a finished the upgrade: refused just as well
            }
            if (second != null) {
                second.closeFuture().get(5, TimeUnit.SECONDS);
            }
            assertThat(first.isOpen()).isTrue();
            assertThat(a.ping(b.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
        }
    }

    @Test
    void connectionsBeyondTheTotalLimitAreRefused() throws Exception {
        try (P2pNode b = node(P2pNode.Options.defaults().withConnectionLimits(2, 4));
             P2pNode a1 = node(P2pNode.Options.defaults());
             P2pNode a2 = node(P2pNode.Options.defaults());
             P2pNode a3 = node(P2pNode.Options.defaults())) {
            a1.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            a2.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> a3.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class);
            assertThat(a1.ping(b.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
            // b itself may not dial past its limit either
            assertThatThrownBy(() -> b.dial(a3.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS))
                    .hasMessageContaining("limit (maxConnections)");
        }
    }

    @Test
    void idleConnectionIsClosedButOneWithAnOpenStreamStays() throws Exception {
        try (P2pNode b = node(P2pNode.Options.defaults().withIdleTimeout(Duration.ofMillis(400)));
             P2pNode a = node(P2pNode.Options.defaults());
             P2pNode c = node(P2pNode.Options.defaults())) {
            b.handle("/test/hold/1.0.0", () -> (stream, data) -> { });
            P2pConnection idle = a.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            P2pConnection busy = c.dial(b.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
            c.openStream(busy, "/test/hold/1.0.0", (s, d) -> { }).get(5, TimeUnit.SECONDS);
            long start = System.nanoTime();
            idle.closeFuture().get(5, TimeUnit.SECONDS);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
            Thread.sleep(800); // twice the idle timeout
            assertThat(busy.isOpen()).as("a connection with an open stream is not idle").isTrue();
        }
    }
}

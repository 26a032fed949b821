package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class ReconnectTest {

    @Test
    void backoffGrowsExponentiallyUpToTheCapWithJitter() {
        Backoff b = new Backoff(Duration.ofMillis(100), Duration.ofSeconds(2), 2.0, 0.5);
        assertThat(b.delay(0, 0)).isEqualTo(Duration.ofMillis(100));
        assertThat(b.delay(3, 0)).isEqualTo(Duration.ofMillis(800));
        assertThat(b.delay(10, 0)).isEqualTo(Duration.ofSeconds(2));
        assertThat(b.delay(1000, 0)).isEqualTo(Duration.ofSeconds(2));
        assertThat(b.delay(3, 0.999)).isBetween(Duration.ofMillis(400), Duration.ofMillis(401));
    }

    @Test
    void droppedConnectionIsRedialed() throws Exception {
        try (P2pNode scheduler = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
             P2pNode worker = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start()) {
            LinkedBlockingQueue<P2pConnection> connections = new LinkedBlockingQueue<>();
            Backoff fast = new Backoff(Duration.ofMillis(50), Duration.ofMillis(500), 2.0, 0.5);
            try (Reconnector r = worker.keepConnected(scheduler.listenAddrs().getFirst(), fast, connections::add)) {
                P2pConnection first = connections.poll(5, TimeUnit.SECONDS);
                assertThat(first).isNotNull();
                P2pConnection onScheduler = TwoNodesTest.waitFor(() -> scheduler.connection(worker.peerId()).orElse(null));
                onScheduler.close(); // the scheduler drops the worker
                P2pConnection second = connections.poll(5, TimeUnit.SECONDS);
                assertThat(second).isNotNull().isNotSameAs(first);
                assertThat(second.remotePeer()).isEqualTo(scheduler.peerId());
                assertThat(worker.ping(scheduler.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
            }
        }
    }
}

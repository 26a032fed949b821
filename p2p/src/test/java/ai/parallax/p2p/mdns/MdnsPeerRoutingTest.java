package ai.parallax.p2p.mdns;

import ai.parallax.p2p.P2pConnection;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.IdentityKeyPair;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class MdnsPeerRoutingTest {
    private static final InetSocketAddress TEST_GROUP = new InetSocketAddress("224.0.0.251", 45354); // not 5353

    @Test
    void peerOnTheLanIsDialedByBareId() throws Exception {
        try (P2pNode a = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
             P2pNode c = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start()) {
            MdnsPeerRouting looking;
            MdnsPeerRouting announcing;
            try {
                announcing = new MdnsPeerRouting(c, true, TEST_GROUP, null, Duration.ofSeconds(10), Duration.ofSeconds(3));
                looking = new MdnsPeerRouting(a, false, TEST_GROUP, null, Duration.ofSeconds(10), Duration.ofSeconds(3));
            } catch (IOException noMulticast) {
                assumeTrue(false, "no multicast-capable interface here: " + noMulticast.getMessage());
                return;
            }
            try (looking; announcing) {
                a.addRouting(looking);
                P2pConnection connection;
                try {
                    connection = a.dial(c.peerId()).get(10, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    assumeTrue(!e.getMessage().contains("does not know it"), "multicast packets are not delivered here");
                    throw e;
                }
                assertThat(connection.remotePeer()).isEqualTo(c.peerId());
                assertThat(a.addresses(c.peerId())).containsAll(c.listenAddrs());
            }
        }
    }
}

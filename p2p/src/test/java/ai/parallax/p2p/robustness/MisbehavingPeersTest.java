package ai.parallax.p2p.robustness;

import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.IdentityKeyPair;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Raw sockets that break the protocol, against a real node: each bad connection is closed, and a well-behaved peer
 * connected all along keeps being served.
 */
class MisbehavingPeersTest {
    private P2pNode node;
    private P2pNode goodPeer;
    private InetSocketAddress address;

    @BeforeEach
    void start() throws Exception {
        node = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")
                .withUpgradeTimeout(Duration.ofSeconds(1))).start();
        goodPeer = new P2pNode(IdentityKeyPair.generate(), P2pNode.Options.defaults().withHost("127.0.0.1")).start();
        goodPeer.dial(node.listenAddrs().getFirst()).get(5, TimeUnit.SECONDS);
        address = node.listenAddrs().getFirst().withoutPeerId().toTcpSocketAddress();
    }

    @AfterEach
    void stop() throws Exception {
        // whatever happened, the good peer is still served
        assertThat(goodPeer.ping(node.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
        goodPeer.close();
        node.close();
    }

    @Test
    void randomBytesCloseTheConnection() throws Exception {
        byte[] junk = new byte[4096];
        new Random(1).nextBytes(junk);
        assertClosedByNode(junk);
    }

    @Test
    void oversizedMultistreamLengthClosesTheConnection() throws Exception {
        assertClosedByNode(new byte[] {(byte) 0x80, (byte) 0x80, 0x40}); // a 1 MiB protocol id
    }

    @Test
    void truncatedNoiseHandshakeIsClosedByTheUpgradeTimeout() throws Exception {
        byte[] header = multistream("/multistream/1.0.0");
        byte[] noise = multistream("/noise");
        byte[] partial = new byte[header.length + noise.length + 12];
        System.arraycopy(header, 0, partial, 0, header.length);
        System.arraycopy(noise, 0, partial, header.length, noise.length);
        partial[header.length + noise.length + 1] = 32; // a Noise message of 32 bytes, of which 10 arrive
        assertClosedByNode(partial);
    }

    @Test
    void forgedThirdHandshakeMessageClosesTheConnection() throws Exception {
        // Message 1 is a real ephemeral key; message 3 is 64 bytes that cannot decrypt under the handshake's keys.
        var out = new java.io.ByteArrayOutputStream();
        out.writeBytes(multistream("/multistream/1.0.0"));
        out.writeBytes(multistream("/noise"));
        byte[] e = java.security.KeyPairGenerator.getInstance("X25519").generateKeyPair().getPublic().getEncoded();
        out.write(0);
        out.write(32);
        out.write(e, e.length - 32, 32);
        out.write(0);
        out.write(64);
        out.writeBytes(new byte[64]);
        assertClosedByNode(out.toByteArray());
    }

    @Test
    void manyBadConnectionsAtOnceLeaveTheNodeServing() throws Exception {
        Socket[] sockets = new Socket[20];
        for (int i = 0; i < sockets.length; i++) {
            sockets[i] = new Socket(address.getAddress(), address.getPort());
            sockets[i].getOutputStream().write(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x01, 9, 9});
        }
        assertThat(goodPeer.ping(node.peerId()).get(5, TimeUnit.SECONDS)).isPositive();
        for (Socket s : sockets) {
            s.setSoTimeout(5000);
            assertThat(readUntilClosed(s.getInputStream())).isTrue();
            s.close();
        }
    }

    private void assertClosedByNode(byte[] send) throws Exception {
        try (Socket s = new Socket(address.getAddress(), address.getPort())) {
            s.setSoTimeout(5000);
            OutputStream out = s.getOutputStream();
            out.write(send);
            out.flush();
            assertThat(readUntilClosed(s.getInputStream())).as("node closed the connection").isTrue();
        }
    }

    private static boolean readUntilClosed(InputStream in) throws Exception {
        byte[] buf = new byte[4096];
        try {
            while (in.read(buf) >= 0) {
                // the node's own multistream header and handshake messages
            }
            return true;
        } catch (java.net.SocketException reset) {
            return true; // closed with unread data: a reset
        }
    }

    private static byte[] multistream(String id) {
        byte[] text = (id + "\n").getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[text.length + 1];
        out[0] = (byte) text.length;
        System.arraycopy(text, 0, out, 1, text.length);
        return out;
    }
}

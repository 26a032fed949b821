package ai.parallax.p2p.noise;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NoiseHandshakeTest {

    @Test
    void bothSidesDeriveTheSameKeys() throws Exception {
        NoiseXXHandshake i = new NoiseXXHandshake(true);
        NoiseXXHandshake r = new NoiseXXHandshake(false);
        r.readMessage(i.writeMessage(new byte[0]));
        assertThat(i.readMessage(r.writeMessage("resp".getBytes(StandardCharsets.UTF_8)))).asString().isEqualTo("resp");
        assertThat(r.readMessage(i.writeMessage("init".getBytes(StandardCharsets.UTF_8)))).asString().isEqualTo("init");
        assertThat(i.handshakeHash()).isEqualTo(r.handshakeHash());
        assertThat(i.remoteStaticKey()).isEqualTo(r.localStaticKey());
        var ik = i.split();
        var rk = r.split();
        byte[] c = ik.send().encrypt(new byte[0], "hello".getBytes(StandardCharsets.UTF_8));
        assertThat(rk.receive().decrypt(new byte[0], c)).asString().isEqualTo("hello");
        // a replayed message fails: the receiver's nonce has moved on
        assertThatThrownBy(() -> rk.receive().decrypt(new byte[0], c)).isInstanceOf(NoiseException.class);
    }

    @Test
    void tamperedHandshakeMessageFails() throws Exception {
        NoiseXXHandshake i = new NoiseXXHandshake(true);
        NoiseXXHandshake r = new NoiseXXHandshake(false);
        r.readMessage(i.writeMessage(new byte[0]));
        byte[] m2 = r.writeMessage(new byte[10]);
        m2[40] ^= 1; // inside the encrypted static key
        assertThatThrownBy(() -> i.readMessage(m2)).isInstanceOf(NoiseException.class)
                .hasMessageContaining("authentication failed");
    }

    /** Plays a libp2p initiator by hand against the handler, with a payload whose signature is over another key. */
    @Test
    void wrongIdentitySignatureClosesTheHandshake() throws Exception {
        IdentityKeyPair server = IdentityKeyPair.generate();
        AtomicReference<PeerId> secured = new AtomicReference<>();
        EmbeddedChannel ch = new EmbeddedChannel(new NoiseHandshakeHandler(false, server, null, (ctx, p) -> secured.set(p)));
        NoiseXXHandshake client = new NoiseXXHandshake(true);
        ch.writeInbound(framed(client.writeMessage(new byte[0])));
        byte[] payload2 = client.readMessage(unframe(ch.readOutbound()));
        assertThat(NoisePayload.decode(payload2).verify(client.remoteStaticKey(), server.peerId())).isEqualTo(server.peerId());

        IdentityKeyPair clientId = IdentityKeyPair.generate();
        byte[] otherStaticKey = new NoiseXXHandshake(true).localStaticKey();
        NoisePayload forged = NoisePayload.sign(clientId, otherStaticKey); // signs a key that is not ours
        assertThatThrownBy(() -> ch.writeInbound(framed(client.writeMessage(forged.encode()))))
                .hasMessageContaining("does not sign its Noise static key");
        assertThat(secured.get()).isNull();
    }

    @Test
    void handshakeThenTransportThroughHandlers() throws Exception {
        IdentityKeyPair a = IdentityKeyPair.generate();
        IdentityKeyPair b = IdentityKeyPair.generate();
        AtomicReference<PeerId> seenByA = new AtomicReference<>();
        AtomicReference<PeerId> seenByB = new AtomicReference<>();
        EmbeddedChannel ca = new EmbeddedChannel(new NoiseHandshakeHandler(true, a, b.peerId(), (ctx, p) -> seenByA.set(p)));
        EmbeddedChannel cb = new EmbeddedChannel(new NoiseHandshakeHandler(false, b, null, (ctx, p) -> seenByB.set(p)));
        shuttle(ca, cb);
        assertThat(seenByA.get()).isEqualTo(b.peerId());
        assertThat(seenByB.get()).isEqualTo(a.peerId());
        byte[] big = new byte[200_000]; // spans four Noise messages
        for (int k = 0; k < big.length; k++) {
            big[k] = (byte) (k * 31);
        }
        ca.writeOutbound(Unpooled.wrappedBuffer(big));
        shuttle(ca, cb);
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf in; (in = cb.readInbound()) != null; ) {
            all.writeBytes(in);
            in.release();
        }
        assertThat(io.netty.buffer.ByteBufUtil.getBytes(all)).isEqualTo(big);
    }

    static void shuttle(EmbeddedChannel a, EmbeddedChannel b) {
        boolean moved = true;
        while (moved) {
            moved = false;
            for (Object m; (m = a.readOutbound()) != null; moved = true) {
                b.writeInbound(m);
            }
            for (Object m; (m = b.readOutbound()) != null; moved = true) {
                a.writeInbound(m);
            }
        }
    }

    static ByteBuf framed(byte[] m) {
        return Unpooled.buffer().writeShort(m.length).writeBytes(m);
    }

    static byte[] unframe(ByteBuf b) {
        byte[] m = new byte[b.readUnsignedShort()];
        b.readBytes(m);
        b.release();
        return m;
    }
}

package ai.parallax.p2p.robustness;

import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.multistream.MultistreamException;
import ai.parallax.p2p.multistream.MultistreamNegotiator;
import ai.parallax.p2p.noise.NoiseException;
import ai.parallax.p2p.noise.NoiseHandshakeHandler;
import ai.parallax.p2p.protocol.IdentifyInfo;
import ai.parallax.p2p.yamux.YamuxConfig;
import ai.parallax.p2p.yamux.YamuxException;
import ai.parallax.p2p.yamux.YamuxFrameDecoder;
import ai.parallax.p2p.yamux.YamuxSession;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Feeds thousands of mutated frames into each layer's handlers. Every outcome must be either acceptance or the
 * layer's own protocol error; anything else (an index error, a null pointer, an unbounded allocation) is a bug a
 * hostile peer could use.
 */
class MutatedFramesFuzzTest {
    private static final int ROUNDS = 3000;
    private final Random random = new Random(6);

    @Test
    void yamuxSessionSurvivesMutatedFrames() {
        YamuxConfig config = new YamuxConfig(8, YamuxConfig.INITIAL_WINDOW, 65507, 1 << 20);
        int protocolErrors = 0;
        var peer = IdentityKeyPair.generate().peerId();
        for (int round = 0; round < ROUNDS; round++) {
            Closer closer = new Closer();
            EmbeddedChannel ch = new EmbeddedChannel(new YamuxFrameDecoder(config.receiveWindow()),
                    new YamuxSession(round % 2 == 0, peer, config,
                            s -> s.handler((StreamHandler) (P2pStream st, ByteBuf d) -> { })), closer);
            ByteBuf script = Unpooled.buffer();
            for (int f = 0; f < 6; f++) {
                int type = random.nextInt(4);
                int len = type == 0 ? random.nextInt(300) : random.nextInt(1 << 20);
                script.writeByte(0).writeByte(type).writeShort(1 << random.nextInt(4)).writeInt(random.nextInt(6))
                        .writeInt(len);
                if (type == 0) {
                    script.writeBytes(new byte[len]);
                }
            }
            mutate(script);
            ch.writeInbound(script);
            ch.finishAndReleaseAll();
            if (closer.failure != null) {
                assertThat(rootOf(closer.failure)).as("round %d", round).isInstanceOf(YamuxException.class);
                assertThat(ch.isOpen()).isFalse();
                protocolErrors++;
            }
        }
        assertThat(protocolErrors).isPositive().isLessThan(ROUNDS);
    }

    @Test
    void noiseResponderSurvivesMutatedHandshakes() {
        IdentityKeyPair server = IdentityKeyPair.generate();
        // Each round costs key generation and Diffie-Hellman, so fewer rounds than for the cheap layers.
        for (int round = 0; round < ROUNDS / 3; round++) {
            Closer closer = new Closer();
            EmbeddedChannel ch = new EmbeddedChannel(new NoiseHandshakeHandler(false, server, null, (c, p) -> { }), closer);
            ByteBuf script = Unpooled.buffer();
            int len = random.nextInt(200);
            script.writeShort(len).writeBytes(randomBytes(len));
            int len3 = random.nextInt(200);
            script.writeShort(len3).writeBytes(randomBytes(len3));
            mutate(script);
            ch.writeInbound(script);
            ch.finishAndReleaseAll();
            if (closer.failure != null) {
                assertThat(rootOf(closer.failure)).as("round %d", round).isInstanceOf(NoiseException.class);
            }
        }
    }

    @Test
    void multistreamSurvivesMutatedNegotiations() {
        for (int round = 0; round < ROUNDS; round++) {
            MultistreamNegotiator r = MultistreamNegotiator.responder("/noise"::equals, ByteBufAllocator.DEFAULT,
                    ByteBuf::release);
            ByteBuf script = Unpooled.buffer();
            script.writeByte(19).writeBytes("/multistream/1.0.0\n".getBytes());
            script.writeByte(7).writeBytes("/noise\n".getBytes());
            mutate(script);
            try {
                r.feed(script);
            } catch (MultistreamException expected) {
                // the peer is refused with a reason
            }
        }
    }

    @Test
    void messageParsersRefuseRandomBytesOnlyWithIllegalArgument() {
        for (int round = 0; round < ROUNDS; round++) {
            byte[] bytes = randomBytes(random.nextInt(80));
            for (Runnable parse : new Runnable[] {
                    () -> Multiaddr.fromBytes(bytes),
                    () -> IdentifyInfo.decode(bytes),
                    () -> ai.parallax.p2p.identity.PeerId.fromBytes(bytes),
                    () -> ai.parallax.p2p.identity.PublicIdentityKey.fromProtobuf(bytes)}) {
                try {
                    parse.run();
                } catch (IllegalArgumentException expected) {
                    // refused with a reason
                }
            }
        }
    }

    /** Like the node's last handler: the first failure closes the connection. */
    static final class Closer extends io.netty.channel.ChannelInboundHandlerAdapter {
        Throwable failure;

        @Override
        public void exceptionCaught(io.netty.channel.ChannelHandlerContext ctx, Throwable cause) {
            if (failure == null) {
                failure = cause;
            }
            ctx.close();
        }

        @Override
        public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
            io.netty.util.ReferenceCountUtil.release(msg);
        }
    }

    private void mutate(ByteBuf b) {
        int flips = 1 + random.nextInt(4);
        for (int i = 0; i < flips && b.writerIndex() > 0; i++) {
            int at = random.nextInt(b.writerIndex());
            switch (random.nextInt(3)) {
                case 0 -> b.setByte(at, b.getByte(at) ^ (1 << random.nextInt(8)));
                case 1 -> b.setByte(at, random.nextInt(256));
                default -> b.writerIndex(at); // truncate
            }
        }
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private static Throwable rootOf(Throwable t) {
        while (t instanceof DecoderException && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}

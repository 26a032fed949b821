package ai.parallax.p2p.yamux;

import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.identity.IdentityKeyPair;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The Yamux session as the listener side, driven frame by frame through an embedded channel. */
class YamuxSessionTest {
    private static final YamuxConfig SMALL = new YamuxConfig(4, YamuxConfig.INITIAL_WINDOW, 65507, 1 << 20);
    private final List<YamuxStream> accepted = new ArrayList<>();
    private final ByteBuf received = Unpooled.buffer();

    private EmbeddedChannel channel(YamuxConfig config) {
        return new EmbeddedChannel(new YamuxFrameDecoder(config.receiveWindow()),
                new YamuxSession(false, IdentityKeyPair.generate().peerId(), config, s -> {
                    accepted.add(s);
                    s.handler(new StreamHandler() {
                        @Override
                        public void onData(P2pStream stream, ByteBuf data) {
                            received.writeBytes(data);
                        }
                    });
                }));
    }

    static ByteBuf frame(int type, int flags, int stream, long length, byte[] data) {
        ByteBuf b = Unpooled.buffer().writeByte(0).writeByte(type).writeShort(flags).writeInt(stream).writeInt((int) length);
        return data == null ? b : b.writeBytes(data);
    }

    private static List<long[]> outboundHeaders(EmbeddedChannel ch) {
        List<long[]> out = new ArrayList<>();
        ByteBuf all = Unpooled.buffer();
        for (ByteBuf b; (b = ch.readOutbound()) != null; ) {
            all.writeBytes(b);
            b.release();
        }
        while (all.readableBytes() >= 12) {
            long[] h = {all.getUnsignedByte(all.readerIndex() + 1), all.getUnsignedShort(all.readerIndex() + 2),
                    all.getInt(all.readerIndex() + 4), all.getUnsignedInt(all.readerIndex() + 8)};
            all.skipBytes(12 + (h[0] == 0 ? (int) h[3] : 0));
            out.add(h);
        }
        return out;
    }

    @Test
    void inboundStreamIsAcknowledgedAndReceivesData() {
        EmbeddedChannel ch = channel(SMALL);
        ch.writeInbound(frame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_SYN, 1, 0, null));
        ch.writeInbound(frame(YamuxFrame.TYPE_DATA, 0, 1, 3, new byte[] {7, 8, 9}));
        assertThat(accepted).hasSize(1);
        assertThat(received.readableBytes()).isEqualTo(3);
        List<long[]> out = outboundHeaders(ch);
        assertThat(out.getFirst()).containsExactly(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_ACK, 1, 0);
    }

    @Test
    void creditReturnsAfterHalfAWindowIsConsumed() {
        EmbeddedChannel ch = channel(SMALL);
        ch.writeInbound(frame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_SYN, 1, 0, null));
        outboundHeaders(ch);
        byte[] chunk = new byte[64 * 1024];
        for (int i = 0; i < 4; i++) { // exactly the 256 KiB window
            ch.writeInbound(frame(YamuxFrame.TYPE_DATA, 0, 1, chunk.length, chunk));
        }
        List<long[]> out = outboundHeaders(ch);
        long credit = out.stream().filter(h -> h[0] == YamuxFrame.TYPE_WINDOW_UPDATE).mapToLong(h -> h[3]).sum();
        assertThat(credit).isEqualTo(256 * 1024);
        ch.writeInbound(frame(YamuxFrame.TYPE_DATA, 0, 1, chunk.length, chunk)); // allowed again
        assertThat(received.readableBytes()).isEqualTo(5 * chunk.length);
    }

    @Test
    void windowOverrunIsAProtocolErrorWithGoAway() {
        EmbeddedChannel ch = channel(SMALL);
        ch.writeInbound(frame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_SYN, 1, 0, null));
        byte[] chunk = new byte[100 * 1024];
        ch.writeInbound(frame(YamuxFrame.TYPE_DATA, 0, 1, chunk.length, chunk));
        // the handler consumed 100 KiB, under half the window: no credit yet, so 200 KiB more overruns it
        outboundHeaders(ch);
        byte[] more = new byte[200 * 1024];
        assertThatThrownBy(() -> ch.writeInbound(frame(YamuxFrame.TYPE_DATA, 0, 1, more.length, more)))
                .isInstanceOf(YamuxException.class).hasMessageContaining("into a window of");
        assertThat(outboundHeaders(ch)).anySatisfy(h -> assertThat(h).containsExactly(YamuxFrame.TYPE_GO_AWAY, 0, 0,
                YamuxFrame.GO_AWAY_PROTOCOL_ERROR));
    }

    @Test
    void oversizedDataFrameIsRefusedBeforeBuffering() {
        EmbeddedChannel ch = channel(SMALL);
        assertThatThrownBy(() -> ch.writeInbound(frame(YamuxFrame.TYPE_DATA, YamuxFrame.FLAG_SYN, 1, 0x7FFFFFFFL, null)))
                .isInstanceOf(DecoderException.class).hasMessageContaining("exceeds the largest window we grant");
    }

    @Test
    void streamsBeyondTheLimitAreReset() {
        EmbeddedChannel ch = channel(SMALL);
        for (int id = 1; id <= 11; id += 2) {
            ch.writeInbound(frame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_SYN, id, 0, null));
        }
        assertThat(accepted).hasSize(4);
        List<long[]> out = outboundHeaders(ch);
        assertThat(out.stream().filter(h -> (h[1] & YamuxFrame.FLAG_RST) != 0).map(h -> h[2]).toList())
                .containsExactly(9L, 11L);
    }

    @Test
    void writesBeyondThePendingLimitFailWhileThePeerGivesNoCredit() throws Exception {
        YamuxConfig config = new YamuxConfig(4, YamuxConfig.INITIAL_WINDOW, 65507, 1 << 20);
        YamuxSession session = new YamuxSession(true, IdentityKeyPair.generate().peerId(), config, s -> { });
        EmbeddedChannel ch = new EmbeddedChannel(new YamuxFrameDecoder(config.receiveWindow()), session);
        var opened = session.openStream(s -> { });
        ch.runPendingTasks();
        YamuxStream stream = opened.get();
        // the peer's initial 256 KiB window lets that much out; the next 1 MiB waits in the queue
        var first = stream.write(Unpooled.wrappedBuffer(new byte[256 * 1024]));
        var queued = stream.write(Unpooled.wrappedBuffer(new byte[1 << 20]));
        var refused = stream.write(Unpooled.wrappedBuffer(new byte[1]));
        assertThat(first).isCompleted();
        assertThat(queued).isNotDone();
        assertThat(stream.pendingWriteBytes()).isEqualTo(1 << 20);
        assertThatThrownBy(refused::join).hasMessageContaining("bytes pending");
        // credit from the peer drains the queue
        ch.writeInbound(frame(YamuxFrame.TYPE_WINDOW_UPDATE, 0, 1, 1 << 20, null));
        assertThat(queued).isCompleted();
        assertThat(stream.pendingWriteBytes()).isZero();
        outboundHeaders(ch);
    }

    @Test
    void pingIsAnsweredWithTheSameOpaqueValue() {
        EmbeddedChannel ch = channel(SMALL);
        ch.writeInbound(frame(YamuxFrame.TYPE_PING, YamuxFrame.FLAG_SYN, 0, 0xCAFEL, null));
        assertThat(outboundHeaders(ch).getFirst()).containsExactly(YamuxFrame.TYPE_PING, YamuxFrame.FLAG_ACK, 0, 0xCAFEL);
    }

    @Test
    void streamOpenedWithOurParityIsAProtocolError() {
        EmbeddedChannel ch = channel(SMALL);
        assertThatThrownBy(() -> ch.writeInbound(frame(YamuxFrame.TYPE_WINDOW_UPDATE, YamuxFrame.FLAG_SYN, 2, 0, null)))
                .hasMessageContaining("with our parity");
    }
}

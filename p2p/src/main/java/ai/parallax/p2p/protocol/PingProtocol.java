package ai.parallax.p2p.protocol;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** ping, {@code /ipfs/ping/1.0.0} (libp2p ping spec): the dialer sends 32 random bytes, the listener echoes them. */
public final class PingProtocol {
    public static final String PROTOCOL_ID = "/ipfs/ping/1.0.0";
    public static final int PAYLOAD_BYTES = 32;
    private static final SecureRandom RANDOM = new SecureRandom();

    private PingProtocol() {
    }

    /** Echoes whatever arrives; the spec lets one stream carry many pings. */
    public static StreamHandler echo() {
        return new StreamHandler() {
            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                stream.write(data.retainedDuplicate());
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                stream.closeWrite();
            }
        };
    }

    /** A pinger: once its stream is open it sends one payload, and {@code rtt} completes when the echo matches. */
    public static StreamHandler pinger(CompletableFuture<Duration> rtt) {
        byte[] payload = new byte[PAYLOAD_BYTES];
        RANDOM.nextBytes(payload);
        return new StreamHandler() {
            private final ByteBuf received = Unpooled.buffer(PAYLOAD_BYTES);
            private long sentAt;

            @Override
            public void onOpen(P2pStream stream) {
                sentAt = System.nanoTime();
                stream.write(Unpooled.wrappedBuffer(payload));
            }

            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                received.writeBytes(data, Math.min(data.readableBytes(), PAYLOAD_BYTES - received.readableBytes()));
                if (received.readableBytes() == PAYLOAD_BYTES && !rtt.isDone()) {
                    long elapsed = System.nanoTime() - sentAt;
                    if (ByteBufUtil.equals(received, Unpooled.wrappedBuffer(payload))) {
                        rtt.complete(Duration.ofNanos(elapsed));
                    } else {
                        rtt.completeExceptionally(new P2pException("ping echo from " + stream.remotePeer()
                                + " does not match what we sent"));
                    }
                    stream.closeWrite();
                }
            }

            @Override
            public void onReset(P2pStream stream, Throwable cause) {
                rtt.completeExceptionally(cause);
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                if (!rtt.isDone()) {
                    rtt.completeExceptionally(new P2pException("peer closed the ping stream without echoing"));
                }
            }
        };
    }
}

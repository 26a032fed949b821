package ai.parallax.p2p.protocol;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import ai.parallax.p2p.multiformats.Varint;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * identify, {@code /ipfs/id/1.0.0}: the peer that receives the stream answers with one uvarint-length-prefixed
 * Identify message and closes its side; the opener reads it.
 */
public final class IdentifyProtocol {
    /** Identify messages are a few hundred bytes; js-libp2p caps them at 8 KiB, we allow 64 KiB. */
    public static final int MAX_MESSAGE_BYTES = 64 * 1024;

    private IdentifyProtocol() {
    }

    /** Answers an inbound identify stream with what {@code info} says about us for that stream's peer. */
    public static StreamHandler responder(Function<P2pStream, IdentifyInfo> info) {
        return new StreamHandler() {
            @Override
            public void onOpen(P2pStream stream) {
                byte[] msg = info.apply(stream).encode();
                ByteBuf b = Unpooled.buffer(Varint.size(msg.length) + msg.length);
                Varint.write(msg.length, b);
                b.writeBytes(msg);
                stream.write(b);
                stream.closeWrite();
            }

            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                // the opener has nothing to say on this protocol
            }
        };
    }

    /** Reads the remote's answer into {@code result}. */
    public static StreamHandler requester(CompletableFuture<IdentifyInfo> result) {
        return new StreamHandler() {
            private final ByteBuf buffer = Unpooled.buffer();

            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                if (buffer.readableBytes() + data.readableBytes() > MAX_MESSAGE_BYTES + Varint.MAX_BYTES) {
                    result.completeExceptionally(new P2pException("identify message from " + stream.remotePeer()
                            + " exceeds " + MAX_MESSAGE_BYTES + " bytes"));
                    stream.reset();
                    return;
                }
                buffer.writeBytes(data);
                tryDecode(stream);
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                tryDecode(stream);
                if (!result.isDone()) {
                    result.completeExceptionally(new P2pException("identify stream from " + stream.remotePeer()
                            + " ended before a whole message"));
                }
                stream.closeWrite();
                buffer.release();
            }

            @Override
            public void onReset(P2pStream stream, Throwable cause) {
                result.completeExceptionally(cause);
            }

            private void tryDecode(P2pStream stream) {
                if (result.isDone()) {
                    return;
                }
                int mark = buffer.readerIndex();
                try {
                    long n = Varint.tryRead(buffer);
                    if (n == Varint.INCOMPLETE) {
                        return;
                    }
                    if (n > MAX_MESSAGE_BYTES) {
                        throw new IllegalArgumentException("identify message of " + n + " bytes exceeds "
                                + MAX_MESSAGE_BYTES);
                    }
                    if (buffer.readableBytes() < n) {
                        buffer.readerIndex(mark);
                        return;
                    }
                    byte[] msg = new byte[(int) n];
                    buffer.readBytes(msg);
                    IdentifyInfo info = IdentifyInfo.decode(msg);
                    if (!info.publicKey().peerId().equals(stream.remotePeer())) {
                        throw new IllegalArgumentException("identify carries the key of " + info.publicKey().peerId()
                                + ", not of the connected peer");
                    }
                    result.complete(info);
                } catch (IllegalArgumentException e) {
                    result.completeExceptionally(new P2pException("bad identify message from " + stream.remotePeer()
                            + ": " + e.getMessage(), e));
                    stream.reset();
                }
            }
        };
    }
}

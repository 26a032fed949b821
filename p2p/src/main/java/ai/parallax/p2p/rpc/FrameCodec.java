package ai.parallax.p2p.rpc;

import ai.parallax.p2p.multiformats.Varint;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;

import java.util.function.Consumer;

/**
 * The frame format of every {@code /parallax/…} stream: an unsigned varint byte count, then that many bytes.
 *
 * <p>Why this and not protobuf: a frame's bytes are either a small control message, whose schema belongs to the
 * server module and is encoded there (JSON records through Jackson, easy to evolve and to read in logs), or the raw
 * bytes of a tensor, which must not be copied into a message object just to be framed. A length prefix frames both
 * without a schema compiler, costs one byte for small messages, and is the same uvarint framing that libp2p uses for
 * identify and multistream-select, so any libp2p toolkit (e.g. js {@code it-length-prefixed}) can read it.
 * Every reader enforces a maximum frame size, so a peer cannot make us buffer an arbitrary amount.
 */
public final class FrameCodec {
    private FrameCodec() {
    }

    /** Prefixes {@code payload} with its length; the payload is not copied (a composite buffer is returned). */
    public static ByteBuf frame(ByteBufAllocator alloc, ByteBuf payload) {
        ByteBuf prefix = alloc.buffer(Varint.size(payload.readableBytes()));
        Varint.write(payload.readableBytes(), prefix);
        CompositeByteBuf out = alloc.compositeBuffer(2);
        out.addComponents(true, prefix, payload);
        return out;
    }

    /**
     * Accumulates stream bytes and emits whole frames, each as a buffer the consumer must release. Frames are copied
     * out of the accumulation buffer, so they stay valid while it is compacted; frames are control messages and
     * tensor headers, small by design, while tensor bytes bypass this reader.
     */
    public static final class Reader implements AutoCloseable {
        private final int maxFrameBytes;
        private final Consumer<ByteBuf> frames;
        private final ByteBuf buffer;
        private boolean closed;

        public Reader(ByteBufAllocator alloc, int maxFrameBytes, Consumer<ByteBuf> frames) {
            this.maxFrameBytes = maxFrameBytes;
            this.frames = frames;
            this.buffer = alloc.buffer();
        }

        /**
         * Feeds stream bytes; {@code data} stays the caller's.
         *
         * @throws IllegalArgumentException if a frame announces more than the maximum size
         */
        public void feed(ByteBuf data) {
            if (closed) {
                return;
            }
            buffer.writeBytes(data, data.readerIndex(), data.readableBytes());
            while (true) {
                int start = buffer.readerIndex();
                long n = Varint.tryRead(buffer);
                if (n == Varint.INCOMPLETE) {
                    break;
                }
                if (n > maxFrameBytes) {
                    throw new IllegalArgumentException("frame of " + n + " bytes exceeds the limit of " + maxFrameBytes);
                }
                if (buffer.readableBytes() < n) {
                    buffer.readerIndex(start);
                    break;
                }
                frames.accept(buffer.readBytes((int) n));
                if (closed) { // the consumer closed us while handling the frame
                    return;
                }
            }
            buffer.discardSomeReadBytes();
        }

        /** Bytes received but not yet part of a whole frame. */
        public int bufferedBytes() {
            return buffer.readableBytes();
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            buffer.release();
        }
    }
}

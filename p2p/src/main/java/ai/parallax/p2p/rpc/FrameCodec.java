package ai.parallax.p2p.rpc;

import ai.parallax.p2p.multiformats.Varint;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import ai.parallax.p2p.P2pStream;

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
     * Splits stream bytes into whole frames, each handed to the consumer as a buffer it must release. The frame's
     * bytes are not copied here: a frame that arrives within one chunk is a slice of that chunk, and a frame spread
     * over several chunks is a composite of slices of them, so the one copy left per hop is wherever the consumer
     * puts the bytes (a composite's {@code nioBuffer()} merges once). Pieces smaller than {@link #COPY_BELOW} are
     * copied instead, so a peer that dribbles bytes cannot make us hold one buffer and one component per byte.
     *
     * <p>A reader made with its stream reserves the bytes of each unfinished frame against the connection's and the
     * node's receive budget ({@link P2pStream#reserveReceived}); a frame that would overrun it fails the feed, and
     * the handler resets the stream. Every reader enforces a maximum frame size.
     */
    public static final class Reader implements AutoCloseable {
        /** Pieces of a frame smaller than this are copied into a tail buffer rather than kept as slices. */
        public static final int COPY_BELOW = 16 * 1024;

        private final P2pStream stream;
        private final ByteBufAllocator alloc;
        private final int maxFrameBytes;
        private final Consumer<ByteBuf> frames;
        private long length = -1;      // of the frame being read; -1 while its length prefix is being read
        private long lengthValue;
        private int lengthShift;
        private CompositeByteBuf partial;
        private ByteBuf tail;          // small pieces, copied; appended to partial before any later piece
        private long reserved;
        private boolean closed;

        /** A reader whose unfinished frames are not counted against any budget. */
        public Reader(ByteBufAllocator alloc, int maxFrameBytes, Consumer<ByteBuf> frames) {
            this(null, alloc, maxFrameBytes, frames);
        }

        /** A reader for {@code stream}, whose unfinished frames count against its connection's receive budget. */
        public Reader(P2pStream stream, ByteBufAllocator alloc, int maxFrameBytes, Consumer<ByteBuf> frames) {
            this.stream = stream;
            this.alloc = alloc;
            this.maxFrameBytes = maxFrameBytes;
            this.frames = frames;
        }

        /**
         * Feeds stream bytes; {@code data} stays the caller's (its reader index does not move).
         *
         * @throws IllegalArgumentException if a frame announces more than the maximum size, or its bytes would
         *                                  overrun the receive budget
         */
        public void feed(ByteBuf data) {
            int at = data.readerIndex();
            int end = data.writerIndex();
            while (at < end && !closed) {
                if (length < 0) {
                    at = readLength(data, at);
                    continue;
                }
                int have = bufferedBytes();
                int n = (int) Math.min(length - have, end - at);
                if (have == 0 && n == length) {
                    emit(data.retainedSlice(at, n)); // the whole frame is in this chunk: lend a slice of it
                    at += n;
                    continue;
                }
                reserve(n);
                if (n < COPY_BELOW) {
                    if (tail != null && tail.writableBytes() < n) {
                        sealTail();
                    }
                    if (tail == null) {
                        tail = alloc.buffer((int) Math.min(Math.max(n, COPY_BELOW), length - have));
                    }
                    tail.writeBytes(data, at, n);
                } else {
                    sealTail();
                    partial().addComponent(true, data.retainedSlice(at, n));
                }
                at += n;
                if (have + n == length) {
                    sealTail();
                    ByteBuf frame = partial;
                    partial = null;
                    unreserve();
                    emit(frame);
                }
            }
        }

        private CompositeByteBuf partial() {
            if (partial == null) {
                partial = alloc.compositeBuffer(Integer.MAX_VALUE);
            }
            return partial;
        }

        /** Appends the small-pieces buffer to the frame, keeping the bytes in arrival order. */
        private void sealTail() {
            if (tail != null) {
                partial().addComponent(true, tail);
                tail = null;
            }
        }

        private int readLength(ByteBuf data, int at) {
            int b = data.getUnsignedByte(at++);
            lengthValue |= (long) (b & 0x7F) << lengthShift;
            lengthShift += 7;
            if (lengthValue > maxFrameBytes || (lengthShift >= 63 && (b & 0x80) != 0)) {
                throw new IllegalArgumentException("frame of " + (lengthValue > maxFrameBytes ? lengthValue + " bytes"
                        : "an overlong length prefix") + " exceeds the limit of " + maxFrameBytes);
            }
            if ((b & 0x80) == 0) {
                length = lengthValue;
                lengthValue = 0;
                lengthShift = 0;
                if (length == 0) {
                    emit(Unpooled.EMPTY_BUFFER);
                }
            }
            return at;
        }

        private void emit(ByteBuf frame) {
            length = -1;
            frames.accept(frame);
        }

        private void reserve(int n) {
            if (stream != null) {
                if (!stream.reserveReceived(n)) {
                    throw new IllegalArgumentException("unfinished frames from " + stream.remotePeer()
                            + " would exceed the receive budget");
                }
                reserved += n;
            }
        }

        private void unreserve() {
            if (stream != null && reserved > 0) {
                stream.releaseReceived(reserved);
            }
            reserved = 0;
        }

        /** Bytes received but not yet part of a whole frame. */
        public int bufferedBytes() {
            return (partial == null ? 0 : partial.readableBytes()) + (tail == null ? 0 : tail.readableBytes());
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            if (tail != null) {
                tail.release();
                tail = null;
            }
            if (partial != null) {
                partial.release();
                partial = null;
            }
            unreserve();
        }
    }
}

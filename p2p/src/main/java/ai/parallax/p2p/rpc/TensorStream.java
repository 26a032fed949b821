package ai.parallax.p2p.rpc;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Tensors on a long-lived data-plane stream (activations between pipeline stages): each is a {@link TensorHeader}
 * frame followed by its bytes, sent in chunks with backpressure. On the receiving side each Noise message is gathered
 * into one buffer and decrypted there in place; then either
 * <ul>
 *   <li>{@link Receiver#Receiver(Function, long, Receiver.Sink)} copies the decrypted chunks into the destination
 *       buffer the consumer chose for the tensor (a second copy, into memory the consumer owns), or</li>
 *   <li>{@link Receiver#lending(long, Receiver.LendingSink)} hands the consumer the decrypted chunks themselves, as
 *       one (composite) buffer: the gather is then the only copy of this hop.</li>
 * </ul>
 * A malformed header or an oversized tensor resets the stream.
 */
public final class TensorStream {
    private TensorStream() {
    }

    /**
     * Sends one tensor. {@code data} must hold exactly {@code header.byteLength()} bytes and stay unchanged until the
     * future completes.
     */
    public static CompletableFuture<Void> send(P2pStream stream, TensorHeader header, ByteBuffer data) {
        if (data.remaining() != header.byteLength()) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("tensor " + header + " needs "
                    + header.byteLength() + " bytes, got " + data.remaining()));
        }
        ByteBuf h = ByteBufAllocator.DEFAULT.buffer(32);
        header.writeTo(h);
        stream.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, h));
        return ChunkedWriter.write(stream, Unpooled.wrappedBuffer(data));
    }

    /** Receives tensors one after another on a stream. */
    public static final class Receiver implements StreamHandler {
        /** Called on the event loop with each complete tensor, positioned at 0 with its bytes remaining. */
        public interface Sink {
            void onTensor(P2pStream stream, TensorHeader header, ByteBuffer data);
        }

        /**
         * Called on the event loop with each complete tensor's bytes as they were decrypted (possibly a composite of
         * several chunks). They are released when this returns; retain them to keep them.
         */
        public interface LendingSink {
            void onTensor(P2pStream stream, TensorHeader header, ByteBuf data);
        }

        private final Function<TensorHeader, ByteBuffer> destinations;
        private final long maxTensorBytes;
        private final Sink sink;
        private final LendingSink lendingSink;
        private FrameCodec.Reader headerReader;
        private TensorHeader current;
        private ByteBuffer destination;
        private CompositeByteBuf lent;
        private long lentReserved;

        /**
         * @param destinations   gives the buffer each tensor is written into (e.g. a direct buffer the next stage
         *                       reads), with at least {@code byteLength} bytes remaining
         * @param maxTensorBytes larger tensors reset the stream
         */
        public Receiver(Function<TensorHeader, ByteBuffer> destinations, long maxTensorBytes, Sink sink) {
            this(destinations, maxTensorBytes, sink, null);
        }

        private Receiver(Function<TensorHeader, ByteBuffer> destinations, long maxTensorBytes, Sink sink,
                         LendingSink lendingSink) {
            this.destinations = destinations;
            this.maxTensorBytes = maxTensorBytes;
            this.sink = sink;
            this.lendingSink = lendingSink;
        }

        /**
         * A receiver that lends each tensor's decrypted bytes to {@code sink} instead of copying them; the bytes of an
         * unfinished tensor count against the connection's receive budget ({@link P2pStream#reserveReceived}).
         */
        public static Receiver lending(long maxTensorBytes, LendingSink sink) {
            return new Receiver(null, maxTensorBytes, null, sink);
        }

        @Override
        public void onData(P2pStream stream, ByteBuf data) {
            try {
                while (data.isReadable()) {
                    if (current == null) {
                        readHeader(stream, data);
                    } else if (lendingSink != null) {
                        int n = (int) Math.min(data.readableBytes(), current.byteLength() - lent.readableBytes());
                        if (!stream.reserveReceived(n)) {
                            throw new IllegalArgumentException("tensor " + current
                                    + " would exceed the connection's receive budget");
                        }
                        lentReserved += n;
                        lent.addComponent(true, data.readRetainedSlice(n));
                        finishIfComplete(stream);
                    } else {
                        int n = Math.min(data.readableBytes(), destination.remaining());
                        ByteBuffer slice = destination.slice(destination.position(), n);
                        data.readBytes(slice);
                        destination.position(destination.position() + n);
                        finishIfComplete(stream);
                    }
                }
            } catch (IllegalArgumentException e) {
                throw new P2pException("bad tensor stream from " + stream.remotePeer() + ": " + e.getMessage(), e);
            }
        }

        private void readHeader(P2pStream stream, ByteBuf data) {
            if (headerReader == null) {
                headerReader = new FrameCodec.Reader(stream, ByteBufAllocator.DEFAULT, 256, frame -> {
                    try {
                        current = TensorHeader.readFrom(frame);
                    } finally {
                        frame.release();
                    }
                });
            }
            // Feed only up to the end of the header frame; the bytes after it are tensor data for this tensor.
            int headerEnd = data.readerIndex();
            while (current == null && headerEnd < data.writerIndex()) {
                headerReader.feed(data.slice(headerEnd, 1));
                headerEnd++;
            }
            data.readerIndex(headerEnd);
            if (current != null) {
                if (current.byteLength() > maxTensorBytes) {
                    throw new IllegalArgumentException("tensor " + current + " of " + current.byteLength()
                            + " bytes exceeds the limit of " + maxTensorBytes);
                }
                if (lendingSink != null) {
                    lent = ByteBufAllocator.DEFAULT.compositeBuffer(Integer.MAX_VALUE);
                    finishIfComplete(stream);
                    return;
                }
                destination = destinations.apply(current);
                if (destination.remaining() < current.byteLength()) {
                    throw new IllegalArgumentException("destination for " + current + " has only "
                            + destination.remaining() + " bytes");
                }
                destination = destination.slice(destination.position(), (int) current.byteLength());
                finishIfComplete(stream);
            }
        }

        private void finishIfComplete(P2pStream stream) {
            if (lendingSink != null) {
                if (lent.readableBytes() == current.byteLength()) {
                    TensorHeader h = current;
                    CompositeByteBuf data = lent;
                    current = null;
                    lent = null;
                    stream.releaseReceived(lentReserved);
                    lentReserved = 0;
                    try {
                        lendingSink.onTensor(stream, h, data);
                    } finally {
                        data.release();
                    }
                }
                return;
            }
            if (!destination.hasRemaining()) {
                TensorHeader h = current;
                ByteBuffer d = destination.flip();
                current = null;
                destination = null;
                sink.onTensor(stream, h, d);
            }
        }

        @Override
        public void onReset(P2pStream stream, Throwable cause) {
            close(stream);
        }

        @Override
        public void onRemoteClose(P2pStream stream) {
            close(stream);
        }

        private void close(P2pStream stream) {
            if (headerReader != null) {
                headerReader.close();
                headerReader = null;
            }
            if (lent != null) {
                lent.release();
                lent = null;
                stream.releaseReceived(lentReserved);
                lentReserved = 0;
            }
        }
    }
}

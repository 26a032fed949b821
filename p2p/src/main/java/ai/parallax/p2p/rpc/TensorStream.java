package ai.parallax.p2p.rpc;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * Tensors on a long-lived data-plane stream (activations between pipeline stages): each is a {@link TensorHeader}
 * frame followed by its bytes, sent in chunks with backpressure. The bytes are copied once per hop on each side: the
 * sender's Noise encryption reads the caller's memory directly, and the receiver copies decrypted chunks straight
 * into the destination buffer it chose for that tensor. A malformed header or an oversized tensor resets the stream.
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

        private final Function<TensorHeader, ByteBuffer> destinations;
        private final long maxTensorBytes;
        private final Sink sink;
        private FrameCodec.Reader headerReader;
        private TensorHeader current;
        private ByteBuffer destination;

        /**
         * @param destinations   gives the buffer each tensor is written into (e.g. a direct buffer the next stage
         *                       reads), with at least {@code byteLength} bytes remaining
         * @param maxTensorBytes larger tensors reset the stream
         */
        public Receiver(Function<TensorHeader, ByteBuffer> destinations, long maxTensorBytes, Sink sink) {
            this.destinations = destinations;
            this.maxTensorBytes = maxTensorBytes;
            this.sink = sink;
        }

        @Override
        public void onData(P2pStream stream, ByteBuf data) {
            try {
                while (data.isReadable()) {
                    if (current == null) {
                        readHeader(stream, data);
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
                headerReader = new FrameCodec.Reader(ByteBufAllocator.DEFAULT, 256, frame -> {
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
            if (headerReader != null) {
                headerReader.close();
            }
        }

        @Override
        public void onRemoteClose(P2pStream stream) {
            if (headerReader != null) {
                headerReader.close();
                headerReader = null;
            }
        }
    }
}

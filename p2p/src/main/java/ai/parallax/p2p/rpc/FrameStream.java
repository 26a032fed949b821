package ai.parallax.p2p.rpc;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.P2pStream;
import ai.parallax.p2p.StreamHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

import java.util.concurrent.CompletableFuture;

/**
 * A long-lived stream of {@link FrameCodec} frames, for the data plane's small messages (tokens, aborts): the
 * sender writes frames as they come, the receiver gets them one by one, in order.
 */
public final class FrameStream {
    private FrameStream() {
    }

    /** Sends one frame (taking ownership of {@code payload}). */
    public static CompletableFuture<Void> send(P2pStream stream, ByteBuf payload) {
        return stream.write(FrameCodec.frame(ByteBufAllocator.DEFAULT, payload));
    }

    /** Receives frames; a frame over {@code maxFrameBytes} resets the stream. */
    public static StreamHandler receiver(int maxFrameBytes, Sink sink) {
        return new StreamHandler() {
            private FrameCodec.Reader reader;

            @Override
            public void onData(P2pStream stream, ByteBuf data) {
                if (reader == null) {
                    reader = new FrameCodec.Reader(stream, ByteBufAllocator.DEFAULT, maxFrameBytes, frame -> {
                        try {
                            sink.onFrame(stream, frame);
                        } finally {
                            frame.release();
                        }
                    });
                }
                try {
                    reader.feed(data);
                } catch (IllegalArgumentException e) {
                    throw new P2pException("bad frame from " + stream.remotePeer() + " on " + stream.protocol() + ": "
                            + e.getMessage(), e);
                }
            }

            @Override
            public void onRemoteClose(P2pStream stream) {
                close();
                sink.onEnd(stream);
            }

            @Override
            public void onReset(P2pStream stream, Throwable cause) {
                close();
                sink.onEnd(stream);
            }

            private void close() {
                if (reader != null) {
                    reader.close();
                    reader = null;
                }
            }
        };
    }

    /** Receives the frames of one stream, on its event loop; a frame is released after {@link #onFrame} returns. */
    public interface Sink {
        void onFrame(P2pStream stream, ByteBuf frame);

        default void onEnd(P2pStream stream) {
        }
    }
}

package ai.parallax.p2p.rpc;

import ai.parallax.p2p.P2pStream;
import io.netty.buffer.ByteBuf;

import java.util.concurrent.CompletableFuture;

/**
 * Writes a large buffer to a stream in chunks, keeping at most {@code maxInFlight} bytes queued: when the stream's
 * queue is full it waits for the last chunk's write to complete before queueing more. Nothing blocks, so it can run
 * on any thread including the event loop, and memory stays bounded whatever the peer's reading speed. Chunks are
 * slices of the caller's buffer; the only copy on the way out is Noise encryption.
 */
public final class ChunkedWriter {
    public static final int DEFAULT_CHUNK = 256 * 1024;
    public static final long DEFAULT_MAX_IN_FLIGHT = 4L * 1024 * 1024;

    private ChunkedWriter() {
    }

    /** Writes all of {@code data} (taking ownership) and completes once the last chunk was handed to the socket. */
    public static CompletableFuture<Void> write(P2pStream stream, ByteBuf data, int chunk, long maxInFlight) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        pump(stream, data, chunk, maxInFlight, done);
        return done;
    }

    public static CompletableFuture<Void> write(P2pStream stream, ByteBuf data) {
        return write(stream, data, DEFAULT_CHUNK, DEFAULT_MAX_IN_FLIGHT);
    }

    private static void pump(P2pStream stream, ByteBuf data, int chunk, long maxInFlight, CompletableFuture<Void> done) {
        CompletableFuture<Void> last = null;
        long queued = 0;
        while (data.isReadable() && queued < maxInFlight) {
            int n = Math.min(chunk, data.readableBytes());
            last = stream.write(data.readRetainedSlice(n));
            queued += n;
        }
        if (last == null) {
            data.release();
            done.complete(null);
            return;
        }
        boolean finished = !data.isReadable();
        last.whenComplete((v, e) -> {
            if (e != null) {
                data.release();
                done.completeExceptionally(e);
            } else if (finished) {
                data.release();
                done.complete(null);
            } else {
                pump(stream, data, chunk, maxInFlight, done);
            }
        });
    }
}

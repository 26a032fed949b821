package ai.parallax.p2p;

import ai.parallax.p2p.identity.PeerId;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;

import java.util.concurrent.CompletableFuture;

/**
 * One multiplexed, flow-controlled byte stream to a peer, speaking one protocol. Methods may be called from any
 * thread. Writes queue while the peer's flow-control window is closed, so a writer paces itself with
 * {@link #write}'s future or {@link #pendingWriteBytes}; the connection refuses writes beyond its pending-bytes
 * limit rather than buffering without bound.
 */
public interface P2pStream {
    int id();

    /** The protocol id agreed for this stream, such as {@code /ipfs/ping/1.0.0}. */
    String protocol();

    PeerId remotePeer();

    /**
     * Queues {@code data}, taking ownership of it. The future completes once the bytes were handed to the socket,
     * and fails if the stream is reset or the pending-bytes limit is reached.
     */
    CompletableFuture<Void> write(ByteBuf data);

    /** Half-closes: sends FIN after the queued data. */
    void closeWrite();

    /** Aborts the stream in both directions (Yamux RST). */
    void reset();

    /** Bytes queued on this stream and not yet handed to the socket. */
    long pendingWriteBytes();

    /**
     * Reserves {@code bytes} that this stream's handler keeps beyond {@link StreamHandler#onData} (an unfinished
     * frame, say) against the connection's and the node's receive budgets; false if either would be exceeded, and
     * then the handler should reset the stream. Flow-control credit returns when {@code onData} returns, so without
     * this a peer could make a handler buffer without bound across many streams.
     */
    default boolean reserveReceived(long bytes) {
        return true;
    }

    /** Returns bytes reserved with {@link #reserveReceived}; a reset stream returns all of its own. */
    default void releaseReceived(long bytes) {
    }

    /** Replaces the handler that receives inbound data. */
    void handler(StreamHandler handler);

    EventLoop eventLoop();
}

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

    /** Replaces the handler that receives inbound data. */
    void handler(StreamHandler handler);

    EventLoop eventLoop();
}

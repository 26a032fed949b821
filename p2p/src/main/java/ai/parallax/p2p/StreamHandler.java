package ai.parallax.p2p;

import io.netty.buffer.ByteBuf;

/**
 * Receives the inbound side of a stream. Every method runs on the connection's event loop and must not block. Data
 * is lent for the duration of {@link #onData}: it is released when the method returns, and only then does the
 * sender get flow-control credit for it, so a handler that keeps a reference must {@code retain()} it.
 */
public interface StreamHandler {
    /** The stream is open and its protocol agreed. */
    default void onOpen(P2pStream stream) {
    }

    void onData(P2pStream stream, ByteBuf data);

    /** The remote will send no more data (Yamux FIN); we may still write. */
    default void onRemoteClose(P2pStream stream) {
    }

    /** The stream was reset, by either side or because the connection closed; {@code cause} says why. */
    default void onReset(P2pStream stream, Throwable cause) {
    }
}

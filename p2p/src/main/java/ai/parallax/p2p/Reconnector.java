package ai.parallax.p2p;

import ai.parallax.p2p.multiformats.Multiaddr;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Keeps a connection to one address alive: it dials, and whenever the dial fails or the connection drops it dials
 * again after a {@link Backoff} delay; a successful connection resets the backoff. Created by
 * {@link P2pNode#keepConnected}.
 */
public final class Reconnector implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Reconnector.class.getName());

    private final P2pNode node;
    private final Multiaddr address;
    private final Backoff backoff;
    private final Consumer<P2pConnection> onConnected;
    private volatile boolean closed;
    private int attempt;

    Reconnector(P2pNode node, Multiaddr address, Backoff backoff, Consumer<P2pConnection> onConnected) {
        this.node = node;
        this.address = address;
        this.backoff = backoff;
        this.onConnected = onConnected;
    }

    void dial() {
        if (closed || node.isClosed()) {
            return;
        }
        node.dial(address).whenComplete((connection, e) -> {
            if (e != null) {
                LOG.log(System.Logger.Level.DEBUG, "dial {0} failed: {1}", address, e.getMessage());
                retry();
                return;
            }
            synchronized (this) {
                attempt = 0;
            }
            onConnected.accept(connection);
            connection.closeFuture().thenRun(() -> {
                if (!closed) {
                    LOG.log(System.Logger.Level.INFO, "lost {0}; reconnecting", connection.remotePeer());
                    retry();
                }
            });
        });
    }

    private void retry() {
        if (closed || node.isClosed()) {
            return;
        }
        long nanos;
        synchronized (this) {
            nanos = backoff.delay(attempt++, ThreadLocalRandom.current().nextDouble()).toNanos();
        }
        node.schedule(this::dial, nanos, TimeUnit.NANOSECONDS);
    }

    /** Stops redialing; an existing connection stays open. */
    @Override
    public void close() {
        closed = true;
    }
}

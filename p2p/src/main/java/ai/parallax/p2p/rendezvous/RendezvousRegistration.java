package ai.parallax.p2p.rendezvous;

import ai.parallax.p2p.Backoff;
import ai.parallax.p2p.P2pConnection;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.Reconnector;
import ai.parallax.p2p.multiformats.Multiaddr;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Keeps a node registered at one rendezvous point: it stays connected (redialing with backoff), registers on every
 * new connection, and refreshes the registration at half its TTL, so that the point never lets it lapse while the
 * node lives.
 */
public final class RendezvousRegistration implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RendezvousRegistration.class.getName());

    private final RendezvousClient client;
    private final String namespace;
    private final Duration ttl;
    private final Reconnector reconnector;
    private volatile boolean closed;

    private RendezvousRegistration(P2pNode node, Multiaddr point, String namespace, Duration ttl) {
        this.client = new RendezvousClient(node, Duration.ofSeconds(10));
        this.namespace = namespace;
        this.ttl = ttl;
        this.reconnector = node.keepConnected(point, Backoff.DEFAULT, this::register);
    }

    /** Starts registering {@code node} at {@code point} under {@code namespace}; close to stop refreshing. */
    public static RendezvousRegistration start(P2pNode node, Multiaddr point, String namespace, Duration ttl) {
        return new RendezvousRegistration(node, point, namespace, ttl);
    }

    private void register(P2pConnection connection) {
        if (closed || !connection.isOpen()) {
            return;
        }
        client.register(connection.remotePeer(), namespace, ttl).whenComplete((granted, e) -> {
            Duration next;
            if (e != null) {
                LOG.log(System.Logger.Level.WARNING, "rendezvous registration at {0} failed: {1}",
                        connection.remotePeer(), e.getMessage());
                next = Duration.ofSeconds(30);
            } else {
                LOG.log(System.Logger.Level.INFO, "registered at rendezvous point {0} in ''{1}'' for {2}",
                        connection.remotePeer(), namespace, granted);
                next = granted.dividedBy(2);
            }
            CompletableFuture.delayedExecutor(Math.max(1, next.toMillis()), TimeUnit.MILLISECONDS)
                    .execute(() -> register(connection));
        });
    }

    @Override
    public void close() {
        closed = true;
        reconnector.close();
    }
}

package ai.parallax.p2p;

import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.protocol.IdentifyInfo;
import ai.parallax.p2p.yamux.YamuxSession;
import io.netty.channel.Channel;

import java.util.concurrent.CompletableFuture;

/** An authenticated, encrypted and multiplexed connection to one peer. */
public final class P2pConnection {
    private final Channel channel;
    private final YamuxSession session;
    private final boolean dialer;
    private final CompletableFuture<IdentifyInfo> identify = new CompletableFuture<>();

    P2pConnection(Channel channel, YamuxSession session, boolean dialer) {
        this.channel = channel;
        this.session = session;
        this.dialer = dialer;
    }

    /** The peer id the remote proved in the Noise handshake. */
    public PeerId remotePeer() {
        return session.remotePeer();
    }

    public Multiaddr remoteAddress() {
        return Multiaddr.tcp((java.net.InetSocketAddress) channel.remoteAddress());
    }

    /** True if we dialed this connection. */
    public boolean isDialer() {
        return dialer;
    }

    /** What the peer said about itself over identify; completes once its answer arrived. */
    public CompletableFuture<IdentifyInfo> identify() {
        return identify;
    }

    CompletableFuture<IdentifyInfo> identifyFuture() {
        return identify;
    }

    Channel channel() {
        return channel;
    }

    /** Bytes this connection's stream handlers hold in unfinished frames. */
    public long heldReceiveBytes() {
        return session.heldBytes();
    }

    YamuxSession session() {
        return session;
    }

    public boolean isOpen() {
        return channel.isActive();
    }

    public CompletableFuture<Void> closeFuture() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        channel.closeFuture().addListener(x -> f.complete(null));
        return f;
    }

    /** Streams currently open on this connection. */
    public int openStreamCount() {
        return session.openStreamCount();
    }

    /** Sends a go-away and closes the connection. */
    public void close() {
        session.close();
    }

    @Override
    public String toString() {
        return "connection to " + remotePeer() + " at " + channel.remoteAddress();
    }
}

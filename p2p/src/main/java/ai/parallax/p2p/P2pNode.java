package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.multistream.MultistreamSelectHandler;
import ai.parallax.p2p.noise.NoiseHandshakeHandler;
import ai.parallax.p2p.protocol.IdentifyInfo;
import ai.parallax.p2p.protocol.IdentifyProtocol;
import ai.parallax.p2p.protocol.PingProtocol;
import ai.parallax.p2p.yamux.YamuxConfig;
import ai.parallax.p2p.yamux.YamuxFrameDecoder;
import ai.parallax.p2p.yamux.YamuxSession;
import ai.parallax.p2p.yamux.YamuxStream;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.ScheduledFuture;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BiPredicate;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A libp2p-compatible node: TCP, secured with Noise, multiplexed with Yamux, negotiating every layer with
 * multistream-select, and answering identify and ping. Applications register handlers for their protocol ids and
 * open streams to peers.
 *
 * <p>Each accepted or dialed socket goes through the same pipeline, one small handler per layer:
 * <pre>
 *   multistream-select(/noise) → Noise XX handshake → Noise encrypt/decrypt
 *     → multistream-select(/yamux/1.0.0) → Yamux frames → Yamux session → multistream-select per stream
 * </pre>
 * A connection that has not finished the upgrade within {@link Options#upgradeTimeout} is closed.
 */
public final class P2pNode implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(P2pNode.class.getName());
    static final String NOISE = "/noise";
    static final String YAMUX = "/yamux/1.0.0";

    /**
     * @param host            address to listen on, such as {@code 0.0.0.0} or {@code 127.0.0.1}
     * @param port            TCP port; 0 picks a free one
     * @param yamux           stream multiplexing limits
     * @param upgradeTimeout  time a new connection has to finish Noise and Yamux negotiation
     * @param agentVersion    what identify reports as our agent
     * @param ioThreads       event loop threads
     */
    public record Options(String host, int port, YamuxConfig yamux, Duration upgradeTimeout, String agentVersion,
                          int ioThreads) {
        public static Options defaults() {
            return new Options("0.0.0.0", 0, YamuxConfig.DEFAULT, Duration.ofSeconds(10), "parallax/0.1.0", 2);
        }

        public Options withHost(String h) {
            return new Options(h, port, yamux, upgradeTimeout, agentVersion, ioThreads);
        }

        public Options withPort(int p) {
            return new Options(host, p, yamux, upgradeTimeout, agentVersion, ioThreads);
        }

        public Options withYamux(YamuxConfig y) {
            return new Options(host, port, y, upgradeTimeout, agentVersion, ioThreads);
        }

        public Options withUpgradeTimeout(Duration d) {
            return new Options(host, port, yamux, d, agentVersion, ioThreads);
        }
    }

    private final IdentityKeyPair identity;
    private final Options options;
    private final EventLoopGroup group;
    private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final Map<String, Supplier<StreamHandler>> handlers = new ConcurrentHashMap<>();
    private final Map<PeerId, P2pConnection> connections = new ConcurrentHashMap<>();
    private final List<Consumer<P2pConnection>> connectionListeners = new CopyOnWriteArrayList<>();
    private volatile List<Multiaddr> listenAddrs = List.of();
    private volatile BiPredicate<PeerId, String> inboundFilter = (peer, protocol) -> true;
    private Channel server;
    private volatile boolean closed;

    public P2pNode(IdentityKeyPair identity, Options options) {
        this.identity = identity;
        this.options = options;
        this.group = new MultiThreadIoEventLoopGroup(options.ioThreads(), NioIoHandler.newFactory());
        handle(IdentifyInfo.PROTOCOL_ID, () -> IdentifyProtocol.responder(this::identifyFor));
        handle(PingProtocol.PROTOCOL_ID, PingProtocol::echo);
    }

    public PeerId peerId() {
        return identity.peerId();
    }

    /** Starts listening; returns once the socket is bound. */
    public P2pNode start() throws InterruptedException {
        ServerBootstrap b = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(512 * 1024, 2 * 1024 * 1024))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        upgrade(ch, false, null, new CompletableFuture<>());
                    }
                });
        server = b.bind(options.host(), options.port()).sync().channel();
        listenAddrs = computeListenAddrs((InetSocketAddress) server.localAddress());
        LOG.log(System.Logger.Level.INFO, "p2p node {0} listening on {1}", peerId(), listenAddrs);
        return this;
    }

    /** Our listen addresses in full form, {@code /ip4/…/tcp/…/p2p/12D3KooW…}. */
    public List<Multiaddr> listenAddrs() {
        return listenAddrs;
    }

    /** Serves {@code protocol} on inbound streams, with a fresh handler per stream. */
    public void handle(String protocol, Supplier<StreamHandler> handler) {
        handlers.put(protocol, handler);
    }

    /**
     * Decides, per peer and protocol, whether an inbound stream may be opened; a refused proposal is answered
     * {@code na}, exactly as for a protocol we do not speak. The default allows everything.
     */
    public void inboundFilter(BiPredicate<PeerId, String> filter) {
        this.inboundFilter = filter;
    }

    /** Called for every connection once it is secured and multiplexed, dialed or accepted. */
    public void onConnection(Consumer<P2pConnection> listener) {
        connectionListeners.add(listener);
    }

    public Optional<P2pConnection> connection(PeerId peer) {
        P2pConnection c = connections.get(peer);
        return c != null && c.isOpen() ? Optional.of(c) : Optional.empty();
    }

    public List<P2pConnection> connections() {
        return List.copyOf(connections.values());
    }

    /**
     * Dials a TCP multiaddr. If it ends in /p2p/…, the remote must prove that identity in the Noise handshake.
     * Completes when the connection is secured and multiplexed.
     */
    public CompletableFuture<P2pConnection> dial(Multiaddr address) {
        PeerId expected = address.value(Multiaddr.Protocol.P2P).map(PeerId::parse).orElse(null);
        CompletableFuture<P2pConnection> result = new CompletableFuture<>();
        InetSocketAddress socket;
        try {
            socket = address.withoutPeerId().toTcpSocketAddress();
        } catch (IllegalArgumentException e) {
            result.completeExceptionally(e);
            return result;
        }
        new Bootstrap().group(group).channel(NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) options.upgradeTimeout().toMillis())
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(512 * 1024, 2 * 1024 * 1024))
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        upgrade(ch, true, expected, result);
                    }
                })
                .connect(socket).addListener(f -> {
                    if (!f.isSuccess()) {
                        result.completeExceptionally(new P2pException("cannot connect to " + address + ": "
                                + f.cause().getMessage(), f.cause()));
                    }
                });
        return result;
    }

    /** Opens a stream for {@code protocol} on the existing connection to {@code peer}. */
    public CompletableFuture<P2pStream> openStream(PeerId peer, String protocol, StreamHandler handler) {
        return connection(peer).map(c -> openStream(c, protocol, handler))
                .orElseGet(() -> CompletableFuture.failedFuture(new P2pException("not connected to " + peer)));
    }

    public CompletableFuture<P2pStream> openStream(P2pConnection connection, String protocol, StreamHandler handler) {
        CompletableFuture<P2pStream> negotiated = new CompletableFuture<>();
        connection.session().openStream(stream -> StreamNegotiation.initiate(stream, protocol, handler)
                        .whenComplete((s, e) -> {
                            if (e != null) {
                                negotiated.completeExceptionally(e);
                            } else {
                                negotiated.complete(s);
                            }
                        }))
                .exceptionally(e -> {
                    negotiated.completeExceptionally(e);
                    return null;
                });
        return negotiated;
    }

    /** One libp2p ping round trip to a connected peer. */
    public CompletableFuture<Duration> ping(PeerId peer) {
        CompletableFuture<Duration> rtt = new CompletableFuture<>();
        openStream(peer, PingProtocol.PROTOCOL_ID, PingProtocol.pinger(rtt))
                .exceptionally(e -> {
                    rtt.completeExceptionally(e);
                    return null;
                });
        return rtt;
    }

    /**
     * Dials {@code address} and keeps redialing it with {@code backoff} whenever the dial fails or the connection
     * drops; {@code onConnected} sees every new connection.
     */
    public Reconnector keepConnected(Multiaddr address, Backoff backoff, Consumer<P2pConnection> onConnected) {
        Reconnector r = new Reconnector(this, address, backoff, onConnected);
        r.dial();
        return r;
    }

    boolean isClosed() {
        return closed;
    }

    void schedule(Runnable task, long delay, TimeUnit unit) {
        if (!closed) {
            group.schedule(task, delay, unit);
        }
    }

    @Override
    public void close() {
        closed = true;
        for (P2pConnection c : connections.values()) {
            c.close();
        }
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        channels.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }

    // ---- the connection pipeline ----

    private void upgrade(SocketChannel ch, boolean dialer, PeerId expected, CompletableFuture<P2pConnection> result) {
        channels.add(ch);
        ScheduledFuture<?> timeout = ch.eventLoop().schedule(() -> {
            if (!result.isDone()) {
                LOG.log(System.Logger.Level.INFO, "closing {0}: upgrade not finished within {1}",
                        ch.remoteAddress(), options.upgradeTimeout());
                result.completeExceptionally(new P2pException("connection to " + ch.remoteAddress()
                        + " did not finish the Noise/Yamux upgrade within " + options.upgradeTimeout()));
                ch.close();
            }
        }, options.upgradeTimeout().toMillis(), TimeUnit.MILLISECONDS);
        ch.closeFuture().addListener(f -> {
            timeout.cancel(false);
            if (!result.isDone()) {
                result.completeExceptionally(new P2pException("connection to " + ch.remoteAddress()
                        + " closed during the upgrade"));
            }
        });
        ConnectionFailureHandler failures = new ConnectionFailureHandler(result);
        ch.pipeline().addLast("failures", failures);
        MultistreamSelectHandler.Listener noiseSelected = (ctx, protocol) -> ctx.pipeline().addBefore("failures", "noise",
                new NoiseHandshakeHandler(dialer, identity, expected, (nctx, remote) -> {
                    failures.remote = remote;
                    MultistreamSelectHandler.Listener yamuxSelected = (yctx, p) -> {
                        YamuxSession session = new YamuxSession(dialer, remote, options.yamux(), this::acceptStream);
                        yctx.pipeline().addBefore("failures", "yamux-frames", new YamuxFrameDecoder(options.yamux().receiveWindow()));
                        yctx.pipeline().addBefore("failures", "yamux", session);
                        P2pConnection connection = new P2pConnection(ch, session, dialer);
                        established(connection);
                        result.complete(connection);
                    };
                    nctx.pipeline().addBefore("failures", "mss-muxer", dialer
                            ? MultistreamSelectHandler.initiator(List.of(YAMUX), yamuxSelected)
                            : MultistreamSelectHandler.responder(List.of(YAMUX), yamuxSelected));
                }));
        ch.pipeline().addBefore("failures", "mss-security", dialer
                ? MultistreamSelectHandler.initiator(List.of(NOISE), noiseSelected)
                : MultistreamSelectHandler.responder(List.of(NOISE), noiseSelected));
    }

    private void established(P2pConnection connection) {
        PeerId peer = connection.remotePeer();
        P2pConnection previous = connections.put(peer, connection);
        if (previous != null && previous.isOpen()) {
            LOG.log(System.Logger.Level.DEBUG, "second connection to {0}; new streams use the newer one", peer);
        }
        connection.closeFuture().thenRun(() -> connections.remove(peer, connection));
        // Ask the peer who it is, as libp2p nodes do on every new connection.
        openStream(connection, IdentifyInfo.PROTOCOL_ID, IdentifyProtocol.requester(connection.identifyFuture()))
                .exceptionally(e -> {
                    connection.identifyFuture().completeExceptionally(e);
                    return null;
                });
        for (Consumer<P2pConnection> l : connectionListeners) {
            l.accept(connection);
        }
    }

    private void acceptStream(YamuxStream stream) {
        StreamNegotiation.respond(stream, protocol -> {
            Supplier<StreamHandler> h = handlers.get(protocol);
            if (h == null) {
                return null;
            }
            if (!inboundFilter.test(stream.remotePeer(), protocol)) {
                LOG.log(System.Logger.Level.WARNING, "refused {0} from peer {1}: not admitted", protocol, stream.remotePeer());
                return null;
            }
            return h.get();
        });
    }

    private IdentifyInfo identifyFor(P2pStream stream) {
        P2pConnection c = connections.get(stream.remotePeer());
        return new IdentifyInfo("ipfs/0.1.0", options.agentVersion(), identity.publicKey(),
                listenAddrs.stream().map(Multiaddr::withoutPeerId).toList(),
                c == null ? null : c.remoteAddress(), List.copyOf(handlers.keySet()));
    }

    private List<Multiaddr> computeListenAddrs(InetSocketAddress bound) {
        List<InetAddress> hosts = new ArrayList<>();
        if (bound.getAddress().isAnyLocalAddress()) {
            try {
                for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                    if (ni.isUp()) {
                        for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                            if (a instanceof Inet4Address) {
                                hosts.add(a);
                            }
                        }
                    }
                }
            } catch (SocketException e) {
                hosts.add(InetAddress.getLoopbackAddress());
            }
        } else {
            hosts.add(bound.getAddress());
        }
        return hosts.stream()
                .map(h -> Multiaddr.tcp(new InetSocketAddress(h, bound.getPort()))
                        .with(Multiaddr.Protocol.P2P, peerId().toString()))
                .toList();
    }

    /**
     * The last handler of every connection: a failure anywhere in the stack (a bad handshake, a broken frame, a
     * protocol violation) closes this one connection and is logged with the peer, and the node serves on.
     */
    private static final class ConnectionFailureHandler extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<P2pConnection> result;
        volatile PeerId remote;

        ConnectionFailureHandler(CompletableFuture<P2pConnection> result) {
            this.result = result;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            Throwable root = cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null
                    ? cause.getCause() : cause;
            String who = remote != null ? remote + " at " + ctx.channel().remoteAddress() : String.valueOf(ctx.channel().remoteAddress());
            LOG.log(System.Logger.Level.INFO, "closing connection to {0}: {1}", who, root.toString());
            result.completeExceptionally(new P2pException("connection to " + who + " failed: " + root.getMessage(), root));
            ctx.close();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg); // nothing should reach the end of the pipeline
        }
    }
}

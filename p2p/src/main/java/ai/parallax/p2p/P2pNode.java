package ai.parallax.p2p;

import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.multistream.MultistreamSelectHandler;
import ai.parallax.p2p.noise.NoiseHandshakeHandler;
import ai.parallax.p2p.protocol.IdentifyInfo;
import ai.parallax.p2p.protocol.IdentifyProtocol;
import ai.parallax.p2p.protocol.PingProtocol;
import ai.parallax.p2p.rendezvous.SignedPeerRecord;
import ai.parallax.p2p.yamux.ReceiveBudget;
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
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
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
import java.util.Set;
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
     * @param host                   address to listen on, such as {@code 0.0.0.0} or {@code 127.0.0.1}
     * @param port                   TCP port; 0 picks a free one
     * @param yamux                  stream multiplexing limits
     * @param upgradeTimeout         time a new connection has to finish Noise and Yamux negotiation
     * @param agentVersion           what identify reports as our agent
     * @param ioThreads              event loop threads
     * @param maxConnections         connections held at once, all peers together; more are refused
     * @param maxConnectionsPerPeer  connections held at once to one peer id; more are refused
     * @param idleTimeout            a connection with no open stream and no traffic for this long is closed
     *                               ({@link Duration#ZERO}: never)
     * @param receiveBudget          bytes that stream handlers of all connections together may hold in unfinished
     *                               frames (each connection also has {@link YamuxConfig#maxHeldBytes})
     */
    public record Options(String host, int port, YamuxConfig yamux, Duration upgradeTimeout, String agentVersion,
                          int ioThreads, int maxConnections, int maxConnectionsPerPeer, Duration idleTimeout,
                          long receiveBudget) {
        public static Options defaults() {
            return new Options("0.0.0.0", 0, YamuxConfig.DEFAULT, Duration.ofSeconds(10), "parallax/0.1.0", 2,
                    1024, 4, Duration.ofMinutes(5), 512L * 1024 * 1024);
        }

        public Options withReceiveBudget(long bytes) {
            return new Options(host, port, yamux, upgradeTimeout, agentVersion, ioThreads, maxConnections,
                    maxConnectionsPerPeer, idleTimeout, bytes);
        }

        public Options {
            if (maxConnections <= 0 || maxConnectionsPerPeer <= 0) {
                throw new IllegalArgumentException("connection limits must be positive, got " + maxConnections
                        + " in all and " + maxConnectionsPerPeer + " per peer");
            }
            if (idleTimeout.isNegative()) {
                throw new IllegalArgumentException("idle timeout " + idleTimeout + " is negative");
            }
        }

        public Options withHost(String h) {
            return new Options(h, port, yamux, upgradeTimeout, agentVersion, ioThreads, maxConnections,
                    maxConnectionsPerPeer, idleTimeout, receiveBudget);
        }

        public Options withPort(int p) {
            return new Options(host, p, yamux, upgradeTimeout, agentVersion, ioThreads, maxConnections,
                    maxConnectionsPerPeer, idleTimeout, receiveBudget);
        }

        public Options withYamux(YamuxConfig y) {
            return new Options(host, port, y, upgradeTimeout, agentVersion, ioThreads, maxConnections,
                    maxConnectionsPerPeer, idleTimeout, receiveBudget);
        }

        public Options withUpgradeTimeout(Duration d) {
            return new Options(host, port, yamux, d, agentVersion, ioThreads, maxConnections, maxConnectionsPerPeer,
                    idleTimeout, receiveBudget);
        }

        public Options withConnectionLimits(int total, int perPeer) {
            return new Options(host, port, yamux, upgradeTimeout, agentVersion, ioThreads, total, perPeer, idleTimeout,
                    receiveBudget);
        }

        public Options withIdleTimeout(Duration d) {
            return new Options(host, port, yamux, upgradeTimeout, agentVersion, ioThreads, maxConnections,
                    maxConnectionsPerPeer, d, receiveBudget);
        }
    }

    private final IdentityKeyPair identity;
    private final Options options;
    private final EventLoopGroup group;
    private final ReceiveBudget receiveBudget;
    private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final Map<String, Supplier<StreamHandler>> handlers = new ConcurrentHashMap<>();
    private final Map<PeerId, P2pConnection> connections = new ConcurrentHashMap<>();
    private final List<Consumer<P2pConnection>> connectionListeners = new CopyOnWriteArrayList<>();
    private final Map<PeerId, List<Multiaddr>> addressBook = new ConcurrentHashMap<>();
    /** Every secured connection, per peer: {@link #connections} keeps only the newest for opening streams. */
    private final Map<PeerId, Set<P2pConnection>> allConnections = new ConcurrentHashMap<>();
    private final List<PeerRouting> routings = new CopyOnWriteArrayList<>();
    private final java.util.concurrent.atomic.AtomicInteger openChannels = new java.util.concurrent.atomic.AtomicInteger();
    private final java.util.concurrent.atomic.AtomicLong recordSeq = new java.util.concurrent.atomic.AtomicLong();
    private volatile List<Multiaddr> listenAddrs = List.of();
    private volatile BiPredicate<PeerId, String> inboundFilter = (peer, protocol) -> true;
    private Channel server;
    private volatile boolean closed;

    public P2pNode(IdentityKeyPair identity, Options options) {
        this.identity = identity;
        this.options = options;
        this.group = new MultiThreadIoEventLoopGroup(options.ioThreads(), NioIoHandler.newFactory());
        this.receiveBudget = new ReceiveBudget(options.receiveBudget());
        handle(IdentifyInfo.PROTOCOL_ID, () -> IdentifyProtocol.responder(this::identifyFor));
        handle(PingProtocol.PROTOCOL_ID, PingProtocol::echo);
    }

    public PeerId peerId() {
        return identity.peerId();
    }

    /**
     * Our listen addresses, signed by our identity key, for rendezvous registrations. Each call has a higher sequence
     * number than the last (milliseconds since the epoch, bumped if the clock stalls), as peer records require.
     */
    public SignedPeerRecord peerRecord() {
        long seq = recordSeq.updateAndGet(prev -> Math.max(prev + 1, System.currentTimeMillis()));
        return SignedPeerRecord.create(identity, seq, listenAddrs);
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
                        if (openChannels.get() >= options.maxConnections()) {
                            LOG.log(System.Logger.Level.WARNING, "refusing connection from {0}: {1} connections "
                                    + "are open, the limit (maxConnections)", ch.remoteAddress(), openChannels.get());
                            ch.close();
                            return;
                        }
                        upgrade(ch, false, null, new CompletableFuture<>());
                    }
                });
        server = b.bind(options.host(), options.port()).sync().channel();
        listenAddrs = computeListenAddrs((InetSocketAddress) server.localAddress());
        LOG.log(System.Logger.Level.INFO, "p2p node {0} listening on {1}", peerId(), listenAddrs);
        return this;
    }

    /** Bytes held now in unfinished frames by the handlers of all connections, against {@link Options#receiveBudget}. */
    public long heldReceiveBytes() {
        return receiveBudget.used();
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
        if (openChannels.get() >= options.maxConnections()) {
            result.completeExceptionally(new P2pException("cannot dial " + address + ": " + openChannels.get()
                    + " connections are open, the limit (maxConnections)"));
            return result;
        }
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

    /**
     * Remembers addresses for {@code peer} (from a bootstrap list, mDNS or a rendezvous), so that it can be dialed by
     * peer id alone. Identify answers add the addresses peers announce for themselves.
     */
    public void addAddresses(PeerId peer, List<Multiaddr> addresses) {
        addressBook.merge(peer, List.copyOf(addresses), (old, add) -> {
            List<Multiaddr> all = new ArrayList<>(old);
            add.stream().filter(a -> !all.contains(a)).forEach(all::add);
            return List.copyOf(all.subList(Math.max(0, all.size() - 16), all.size())); // keep the newest 16
        });
    }

    public List<Multiaddr> addresses(PeerId peer) {
        return addressBook.getOrDefault(peer, List.of());
    }

    /** Adds a way to find peers by id; {@link #dial(PeerId)} asks routings in the order they were added. */
    public void addRouting(PeerRouting routing) {
        routings.add(routing);
    }

    /**
     * Connects to {@code peer} by id alone: reuses an open connection, else tries the addresses we know (from
     * identify, mDNS, earlier lookups), else asks each {@link PeerRouting} in turn and dials what it finds. Every
     * address gets {@code /p2p/<peer>} appended, so the Noise handshake must prove the id. Fails with a message
     * naming everything that was tried.
     */
    public CompletableFuture<P2pConnection> dial(PeerId peer) {
        Optional<P2pConnection> open = connection(peer);
        if (open.isPresent()) {
            return CompletableFuture.completedFuture(open.get());
        }
        List<Multiaddr> known = addresses(peer);
        List<String> tried = new CopyOnWriteArrayList<>();
        CompletableFuture<P2pConnection> attempt = known.isEmpty()
                ? CompletableFuture.failedFuture(new P2pException("no known address"))
                : dialAny(peer, known, tried);
        for (PeerRouting routing : routings) {
            attempt = attempt.exceptionallyCompose(e -> routing.findPeer(peer)
                    .exceptionally(failure -> {
                        tried.add(routing.describe() + " failed: " + rootMessage(failure));
                        return List.of();
                    })
                    .thenCompose(found -> {
                        if (found.isEmpty()) {
                            tried.add(routing.describe() + " does not know it");
                            return CompletableFuture.failedFuture(new P2pException("not found"));
                        }
                        addAddresses(peer, found);
                        return dialAny(peer, found, tried);
                    }));
        }
        return attempt.exceptionallyCompose(e -> CompletableFuture.failedFuture(new P2pException("cannot find peer "
                + peer + ": " + (known.isEmpty() && routings.isEmpty()
                ? "no known address and no mDNS or bootstrap/rendezvous peers to ask"
                : String.join("; ", tried)), e)));
    }

    private CompletableFuture<P2pConnection> dialAny(PeerId peer, List<Multiaddr> candidates, List<String> tried) {
        CompletableFuture<P2pConnection> attempt = CompletableFuture.failedFuture(new P2pException("no address tried"));
        for (Multiaddr a : candidates) {
            Multiaddr full = a.value(Multiaddr.Protocol.P2P).isPresent() ? a : a.with(Multiaddr.Protocol.P2P, peer.toString());
            attempt = attempt.exceptionallyCompose(e -> dial(full).whenComplete((c, failure) -> {
                if (failure != null) {
                    tried.add(full + ": " + rootMessage(failure));
                }
            }));
        }
        return attempt;
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null && (t instanceof java.util.concurrent.CompletionException
                || t instanceof java.util.concurrent.ExecutionException)) {
            t = t.getCause();
        }
        return t.getMessage();
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
        openChannels.incrementAndGet();
        ch.closeFuture().addListener(f -> openChannels.decrementAndGet());
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
                        YamuxSession session = new YamuxSession(dialer, remote, options.yamux(), receiveBudget,
                                this::acceptStream);
                        yctx.pipeline().addBefore("failures", "yamux-frames", new YamuxFrameDecoder(options.yamux().receiveWindow()));
                        yctx.pipeline().addBefore("failures", "yamux", session);
                        P2pConnection connection = new P2pConnection(ch, session, dialer);
                        String refusal = admit(connection);
                        if (refusal != null) {
                            LOG.log(System.Logger.Level.WARNING, "closing connection to {0} at {1}: {2}", remote,
                                    ch.remoteAddress(), refusal);
                            result.completeExceptionally(new P2pException("connection to " + remote + " refused: " + refusal));
                            session.close();
                            return;
                        }
                        if (!options.idleTimeout().isZero()) {
                            ch.pipeline().addFirst("idle", new IdleStateHandler(0, 0,
                                    options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS));
                            ch.pipeline().addBefore("failures", "idle-close", new IdleConnectionCloser(connection,
                                    options.idleTimeout()));
                        }
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

    /** Null if the connection may stay, else why not: the per-peer connection limit. */
    private String admit(P2pConnection connection) {
        PeerId peer = connection.remotePeer();
        String[] refusal = {null};
        // compute() runs atomically per key, so concurrent dials and accepts of one peer count correctly
        allConnections.compute(peer, (k, set) -> {
            Set<P2pConnection> mine = set == null ? ConcurrentHashMap.newKeySet() : set;
            mine.removeIf(c -> !c.isOpen());
            if (mine.size() >= options.maxConnectionsPerPeer()) {
                refusal[0] = mine.size() + " connections to this peer are open, the limit (maxConnectionsPerPeer)";
            } else {
                mine.add(connection);
            }
            return mine;
        });
        if (refusal[0] == null) {
            connection.closeFuture().thenRun(() -> allConnections.computeIfPresent(peer, (k, set) -> {
                set.remove(connection);
                return set.isEmpty() ? null : set;
            }));
        }
        return refusal[0];
    }

    private void established(P2pConnection connection) {
        PeerId peer = connection.remotePeer();
        P2pConnection previous = connections.put(peer, connection);
        if (previous != null && previous.isOpen()) {
            LOG.log(System.Logger.Level.DEBUG, "second connection to {0}; new streams use the newer one", peer);
        }
        connection.closeFuture().thenRun(() -> {
            // if it was the connection streams went to, fall back to another open one to the same peer
            if (connections.remove(peer, connection)) {
                Set<P2pConnection> others = allConnections.get(peer);
                if (others != null) {
                    List.copyOf(others).stream().filter(c -> c != connection && c.isOpen()).findFirst()
                            .ifPresent(c -> connections.putIfAbsent(peer, c));
                }
            }
        });
        connection.identifyFuture().thenAccept(info -> addAddresses(peer, info.listenAddrs()));
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
        // the signed record lets peers (js-libp2p does) keep our addresses as certified, not merely claimed
        return new IdentifyInfo("ipfs/0.1.0", options.agentVersion(), identity.publicKey(),
                listenAddrs.stream().map(Multiaddr::withoutPeerId).toList(),
                c == null ? null : c.remoteAddress(), List.copyOf(handlers.keySet()),
                listenAddrs.isEmpty() ? null : peerRecord().envelope());
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
        // Addresses other machines can reach come first; loopback stays last, for peers on this host.
        return hosts.stream()
                .sorted(java.util.Comparator.comparing(InetAddress::isLoopbackAddress))
                .map(h -> Multiaddr.tcp(new InetSocketAddress(h, bound.getPort()))
                        .with(Multiaddr.Protocol.P2P, peerId().toString()))
                .toList();
    }

    /** Closes a connection that has had no open stream and no traffic for the idle timeout. */
    private static final class IdleConnectionCloser extends ChannelInboundHandlerAdapter {
        private final P2pConnection connection;
        private final Duration timeout;

        IdleConnectionCloser(P2pConnection connection, Duration timeout) {
            this.connection = connection;
            this.timeout = timeout;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof IdleStateEvent && connection.openStreamCount() == 0) {
                LOG.log(System.Logger.Level.INFO, "closing idle connection to {0} at {1}: no stream and no traffic for {2}",
                        connection.remotePeer(), ctx.channel().remoteAddress(), timeout);
                connection.close();
            }
            super.userEventTriggered(ctx, evt);
        }
    }

    /**
     * The last handler of every connection: a failure anywhere in the stack (a bad handshake, a broken frame, a
     * protocol violation) closes this one connection and is logged with the peer, and the node serves on.
     */
    private static final class ConnectionFailureHandler extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<P2pConnection> result;
        volatile PeerId remote;
        private boolean failed;

        ConnectionFailureHandler(CompletableFuture<P2pConnection> result) {
            this.result = result;
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (failed) {
                return; // the first failure closed the connection; writes still queued then fail one by one
            }
            failed = true;
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

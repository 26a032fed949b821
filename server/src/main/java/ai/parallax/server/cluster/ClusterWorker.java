package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.p2p.P2pConnection;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.cluster.ClusterAdmission;
import ai.parallax.p2p.identity.IdentityFile;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.rpc.RequestResponse;
import ai.parallax.server.UserError;
import ai.parallax.server.cluster.ClusterMessages.Assignment;
import ai.parallax.server.cluster.ClusterMessages.ClusterInfo;
import ai.parallax.server.cluster.ClusterMessages.JoinReply;
import ai.parallax.server.cluster.ClusterMessages.JoinRequest;
import ai.parallax.tensors.ops.Ops;
import io.netty.buffer.Unpooled;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * {@code parallax join}: a node that lends its memory and compute to a cluster. It dials the scheduler, shows the join
 * token, learns the model, checks that its files are here, measures its hardware, registers, and then serves whatever
 * stage the scheduler assigns. When the scheduler's connection closes it drops its stage and registers again, with
 * exponential backoff, for up to {@link #RECONNECT_FOR}: a restarted scheduler (same identity and port) finds its
 * nodes back.
 */
public final class ClusterWorker implements AutoCloseable {
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(15);

    public record Options(String scheduler, String token, Path model, Path modelsDir, String host, int p2pPort,
                          Long memory, Integer threads, Path identity, long benchmarkMillis) {
    }

    /** How long a node that lost its scheduler keeps trying to reach it again before it leaves. */
    static final Duration RECONNECT_FOR = Duration.ofMinutes(10);
    private static final Duration FIRST_BACKOFF = Duration.ofMillis(500);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(10);

    private final Options options;
    private final PrintWriter log;
    private final CompletableFuture<Void> gone = new CompletableFuture<>();
    private final ScheduledExecutorService reconnects = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon().name("parallax-reconnect").unstarted(r));
    private Multiaddr address;
    private P2pNode node;
    private Ops ops;
    private StageHost stage;
    private HardwareProbe probe;
    private volatile PeerId scheduler;
    private volatile boolean closed;

    private ClusterWorker(Options options, PrintWriter log) {
        this.options = options;
        this.log = log;
    }

    /** Joins; returns once registered. Bad input or a refusal throws a {@link UserError} that says what to do. */
    public static ClusterWorker join(Options o, PrintWriter log) {
        return join(o, o.threads() == null ? new SimdOps() : new SimdOps(o.threads()), log);
    }

    /**
     * Joins with its kernels on {@code ops} (the CPU, or a GPU through Vulkan), which the worker owns from now on:
     * it reports that device's memory and speed, and serves its stage there.
     */
    public static ClusterWorker join(Options o, Ops ops, PrintWriter log) {
        ClusterWorker w = new ClusterWorker(o, log);
        w.ops = ops;
        try {
            w.begin();
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    /**
     * Completes when this node leaves for good: the scheduler's connection closed and it could not be reached again
     * within {@link #RECONNECT_FOR}.
     */
    public CompletableFuture<Void> schedulerGone() {
        return gone;
    }

    public PeerId peerId() {
        return node.peerId();
    }

    private void begin() {
        if (options.scheduler() == null) {
            throw new UserError("join needs the scheduler's address: pass -s with the multiaddr that 'parallax serve' "
                    + "printed (/ip4/…/tcp/…/p2p/12D3KooW…); LAN discovery (mDNS) is not available in this build yet");
        }
        try {
            address = Multiaddr.parse(options.scheduler());
        } catch (IllegalArgumentException e) {
            throw new UserError("-s " + options.scheduler() + " is not a multiaddr (" + e.getMessage() + "); a bare "
                    + "peer id cannot be dialed without discovery, so pass the full /ip4/…/tcp/…/p2p/… address that "
                    + "'parallax serve' printed");
        }
        if (options.token() == null) {
            throw new UserError("join needs the cluster's join token: pass --token as printed by 'parallax serve'");
        }
        IdentityKeyPair identity;
        try {
            identity = options.identity() != null ? IdentityFile.loadOrCreate(options.identity())
                    : IdentityKeyPair.generate();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the identity file " + options.identity(), e);
        }
        node = new P2pNode(identity, P2pNode.Options.defaults().withHost(options.host()).withPort(options.p2pPort()));
        try {
            node.start();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        log.printf(Locale.ROOT, "node %s listening on %s%n", node.peerId(), node.listenAddrs());
        log.flush();
        RequestResponse.serve(node, ClusterMessages.ASSIGN, (peer, request) -> {
            if (!peer.equals(scheduler) || stage == null) {
                request.release();
                return CompletableFuture.failedFuture(new IllegalStateException("only the scheduler assigns stages"));
            }
            Assignment a = ClusterMessages.decode(request.retain(), Assignment.class);
            return CompletableFuture.supplyAsync(() -> ClusterMessages.encode(stage.apply(a)));
        });
        ActivationLink.serve(node, (peer, frame) -> {
            if (stage != null) {
                stage.onInbound(peer, frame);
            }
        });
        // Cluster protocols only from the scheduler and from the stage before ours.
        node.inboundFilter((peer, protocol) -> !protocol.startsWith("/parallax/") || peer.equals(scheduler)
                || (stage != null && peer.equals(stage.previousPeer())));
        register();
    }

    /**
     * Dials the scheduler, shows the token, checks the model files, measures the hardware (once) and registers.
     *
     * @throws UserError when the scheduler cannot be reached or refuses this node
     */
    private void register() {
        P2pConnection connection;
        try {
            connection = node.dial(address).get(CONTROL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new UserError("cannot reach the scheduler at " + address + ": " + rootMessage(e));
        }
        PeerId peer = connection.remotePeer();
        log.printf(Locale.ROOT, "node %s connected to scheduler %s%n", node.peerId(), peer);
        log.flush();
        try {
            ClusterAdmission.present(node, peer, options.token(), CONTROL_TIMEOUT).get();
        } catch (Exception e) {
            throw new UserError("the scheduler refused to admit this node: " + rootMessage(e)
                    + " (check --token against the join command 'parallax serve' printed)");
        }
        scheduler = peer;
        ClusterInfo info = request(peer, ClusterMessages.CLUSTER_INFO, "info", ClusterInfo.class);
        Path modelDir = resolveModel(info);
        log.printf(Locale.ROOT, "cluster serves %s (%d layers); model files: %s%n", info.model(), info.layers(),
                modelDir);
        log.flush();
        if (stage == null) {
            stage = new StageHost(node, ops, modelDir, peer, null, log);
            probe = HardwareProbe.measure(options.memory(), options.benchmarkMillis(), ops);
            log.printf(Locale.ROOT, "hardware: %s, %.1f MiB offered, %.1f GFLOP/s, %.1f GB/s%n", probe.device(),
                    probe.memoryBytes() / 1048576.0, probe.gflops(), probe.gbPerSecond());
        }
        stage.onProgress((epoch, fraction) -> RequestResponse.request(node, peer, ClusterMessages.PROGRESS,
                ClusterMessages.encode(new ClusterMessages.Progress(epoch, fraction)), CONTROL_TIMEOUT)
                .whenComplete((reply, e) -> {
                    if (reply != null) {
                        reply.release();
                    }
                }));
        JoinRequest join = new JoinRequest(ClusterScheduler.hostName(), probe.memoryBytes(), probe.gflops(),
                probe.gbPerSecond(), node.listenAddrs().stream().map(Multiaddr::toString).toList(), probe.device());
        JoinReply reply = request(peer, ClusterMessages.JOIN, join, JoinReply.class);
        if (!reply.accepted()) {
            throw new UserError("the scheduler refused this node: " + reply.message());
        }
        log.printf(Locale.ROOT, "registered: %s%n", reply.message());
        log.flush();
        connection.closeFuture().whenComplete((v, e) -> schedulerLost());
    }

    /**
     * The scheduler's connection closed: stop the stage (its pipeline is gone; its layers stay loaded in case the
     * next allocation gives them back) and try to register again.
     */
    private void schedulerLost() {
        if (closed) {
            return;
        }
        log.printf(Locale.ROOT, "lost the scheduler; this node stops serving its stage and reconnects for up to "
                + "%d s%n", RECONNECT_FOR.toSeconds());
        log.flush();
        stage.suspend();
        long deadline = System.nanoTime() + RECONNECT_FOR.toNanos();
        reconnects.schedule(() -> reconnect(FIRST_BACKOFF, deadline, 1), FIRST_BACKOFF.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    /** One try; on failure the next comes after twice the wait (at most {@link #MAX_BACKOFF}). */
    private void reconnect(Duration wait, long deadline, int attempt) {
        if (closed) {
            return;
        }
        try {
            register();
            log.printf(Locale.ROOT, "reconnected to the scheduler after %d attempt%s%n", attempt,
                    attempt == 1 ? "" : "s");
            log.flush();
        } catch (RuntimeException e) {
            Duration next = wait.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : wait.multipliedBy(2);
            if (System.nanoTime() + next.toNanos() > deadline) {
                log.printf(Locale.ROOT, "could not reach the scheduler again (%s); giving up%n", e.getMessage());
                log.flush();
                gone.complete(null);
                return;
            }
            log.printf(Locale.ROOT, "reconnect attempt %d failed (%s); next in %d ms%n", attempt, e.getMessage(),
                    next.toMillis());
            log.flush();
            reconnects.schedule(() -> reconnect(next, deadline, attempt + 1), next.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** The model directory: {@code -m} as given, or the model's name under {@code --models-dir}. */
    private Path resolveModel(ClusterInfo info) {
        Path dir = options.model() != null ? options.model()
                : options.modelsDir() != null ? options.modelsDir().resolve(info.model()) : null;
        if (dir == null) {
            throw new UserError("this node has no model files for '" + info.model() + "': pass -m <dir> with a copy "
                    + "of the model, or --models-dir <dir> holding a '" + info.model() + "' folder");
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new UserError("this node has no model files for '" + info.model() + "': " + dir.toAbsolutePath()
                    + (Files.isDirectory(dir) ? " has no config.json" : " does not exist")
                    + "; copy the model there or pass -m/--models-dir");
        }
        ModelConfig config = ModelConfig.read(dir);
        if (config.numLayers() != info.layers() || !config.modelType().equals(info.modelType())) {
            throw new UserError(dir + " holds a " + config.modelType() + " model of " + config.numLayers()
                    + " layers, but the cluster serves " + info.model() + ", a " + info.modelType() + " model of "
                    + info.layers() + " layers");
        }
        return dir;
    }

    private <T> T request(PeerId scheduler, String protocol, Object message, Class<T> type) {
        try {
            return ClusterMessages.decode(RequestResponse.request(node, scheduler, protocol,
                    message instanceof String s ? Unpooled.copiedBuffer(s, java.nio.charset.StandardCharsets.UTF_8)
                            : ClusterMessages.encode(message), CONTROL_TIMEOUT).get(), type);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new UserError("the scheduler did not answer " + protocol + ": " + rootMessage(e));
        }
    }

    /** The innermost cause's message: what went wrong, without the wrappers futures add. */
    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    @Override
    public void close() {
        closed = true;
        reconnects.shutdownNow();
        if (stage != null) {
            stage.close();
        }
        if (node != null) {
            node.close();
        }
        if (ops != null) {
            ops.close();
        }
    }
}

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
import java.util.concurrent.TimeUnit;

/**
 * {@code parallax join}: a node that lends its memory and compute to a cluster. It dials the scheduler, shows the join
 * token, learns the model, checks that its files are here, measures its hardware, registers, and then serves whatever
 * stage the scheduler assigns, until the scheduler goes away.
 */
public final class ClusterWorker implements AutoCloseable {
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(15);

    public record Options(String scheduler, String token, Path model, Path modelsDir, String host, int p2pPort,
                          Long memory, Integer threads, Path identity, long benchmarkMillis) {
    }

    private final Options options;
    private final PrintWriter log;
    private P2pNode node;
    private Ops ops;
    private StageHost stage;
    private P2pConnection schedulerConnection;

    private ClusterWorker(Options options, PrintWriter log) {
        this.options = options;
        this.log = log;
    }

    /** Joins; returns once registered. Bad input or a refusal throws a {@link UserError} that says what to do. */
    public static ClusterWorker join(Options o, PrintWriter log) {
        ClusterWorker w = new ClusterWorker(o, log);
        try {
            w.begin();
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    /** Completes when the scheduler's connection closes. */
    public CompletableFuture<Void> schedulerGone() {
        return schedulerConnection.closeFuture();
    }

    public PeerId peerId() {
        return node.peerId();
    }

    private void begin() {
        if (options.scheduler() == null) {
            throw new UserError("join needs the scheduler's address: pass -s with the multiaddr that 'parallax serve' "
                    + "printed (/ip4/…/tcp/…/p2p/12D3KooW…); LAN discovery (mDNS) is not available in this build yet");
        }
        Multiaddr address;
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
            schedulerConnection = node.dial(address).get(CONTROL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new UserError("cannot reach the scheduler at " + address + ": " + rootMessage(e));
        }
        PeerId scheduler = schedulerConnection.remotePeer();
        log.printf(Locale.ROOT, "node %s connected to scheduler %s%n", node.peerId(), scheduler);
        log.flush();
        try {
            ClusterAdmission.present(node, scheduler, options.token(), CONTROL_TIMEOUT).get();
        } catch (Exception e) {
            throw new UserError("the scheduler refused to admit this node: " + rootMessage(e)
                    + " (check --token against the join command 'parallax serve' printed)");
        }
        ClusterInfo info = request(scheduler, ClusterMessages.CLUSTER_INFO, "info", ClusterInfo.class);
        Path modelDir = resolveModel(info);
        log.printf(Locale.ROOT, "cluster serves %s (%d layers); model files: %s%n", info.model(), info.layers(),
                modelDir);
        log.flush();

        ops = options.threads() == null ? new SimdOps() : new SimdOps(options.threads());
        stage = new StageHost(node, ops, modelDir, scheduler, null, log);
        RequestResponse.serve(node, ClusterMessages.ASSIGN, (peer, request) -> {
            if (!peer.equals(scheduler)) {
                request.release();
                return CompletableFuture.failedFuture(new IllegalStateException("only the scheduler assigns stages"));
            }
            Assignment a = ClusterMessages.decode(request.retain(), Assignment.class);
            return CompletableFuture.supplyAsync(() -> ClusterMessages.encode(stage.apply(a)));
        });
        ActivationLink.serve(node, stage::onInbound);
        // Cluster protocols only from the scheduler and from the stage before ours.
        node.inboundFilter((peer, protocol) -> !protocol.startsWith("/parallax/") || peer.equals(scheduler)
                || peer.equals(stage.previousPeer()));

        HardwareProbe probe = HardwareProbe.measure(options.memory(), options.benchmarkMillis());
        log.printf(Locale.ROOT, "hardware: %.1f MiB offered, %.1f GFLOP/s, %.1f GB/s%n", probe.memoryBytes() / 1048576.0,
                probe.gflops(), probe.gbPerSecond());
        JoinRequest join = new JoinRequest(ClusterScheduler.hostName(), probe.memoryBytes(), probe.gflops(),
                probe.gbPerSecond(), node.listenAddrs().stream().map(Multiaddr::toString).toList());
        JoinReply reply = request(scheduler, ClusterMessages.JOIN, join, JoinReply.class);
        if (!reply.accepted()) {
            throw new UserError("the scheduler refused this node: " + reply.message());
        }
        log.printf(Locale.ROOT, "registered: %s%n", reply.message());
        log.flush();
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

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getMessage() != null ? t.getMessage() : t.toString();
    }

    @Override
    public void close() {
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

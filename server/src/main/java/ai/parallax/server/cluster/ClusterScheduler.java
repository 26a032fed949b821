package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.config.GenerationConfig;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.p2p.P2pConnection;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.cluster.ClusterAdmission;
import ai.parallax.p2p.cluster.JoinToken;
import ai.parallax.p2p.identity.IdentityFile;
import ai.parallax.p2p.identity.IdentityKeyPair;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.rpc.RequestResponse;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.server.api.ApiServer;
import ai.parallax.server.api.ChatPromptFormatter;
import ai.parallax.server.api.ServedModel;
import ai.parallax.server.cluster.ClusterMessages.Assignment;
import ai.parallax.server.cluster.ClusterMessages.AssignmentReply;
import ai.parallax.server.cluster.ClusterMessages.ClusterInfo;
import ai.parallax.server.cluster.ClusterMessages.JoinReply;
import ai.parallax.server.cluster.ClusterMessages.JoinRequest;
import ai.parallax.server.scheduler.Allocation;
import ai.parallax.server.scheduler.InsufficientMemoryException;
import ai.parallax.server.scheduler.LayerAllocator;
import ai.parallax.server.scheduler.ModelFootprint;
import ai.parallax.server.scheduler.NodeProfile;
import ai.parallax.server.scheduler.RebalancePolicy;
import ai.parallax.tensors.ops.Ops;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * {@code parallax serve} for a cluster: the API, the engine over a {@link PipelineStepRunner}, and the P2P node that
 * nodes join. It gathers the inputs of the pure decisions ({@link RebalancePolicy}, {@link LayerAllocator}), calls
 * them when nodes join, die or a step fails, and carries out what they decide: stage assignments, then the pipeline.
 *
 * <p>All membership and allocation work runs on one control thread, in order, so decisions never interleave.
 */
public final class ClusterScheduler implements AutoCloseable {
    private static final Duration HEARTBEAT = Duration.ofSeconds(1);
    private static final int MISSED_HEARTBEATS = 3;

    public record Options(Path model, String host, int port, int p2pPort, int minNodes, boolean localWorker,
                          Long localMemory, int blockSize, int kvBlocks, int maxPrefillChunk, int maxRunning,
                          int maxQueue, String apiKey, Path chatTemplate, Integer threads, String servedName,
                          int maxContext, Duration recoveryTimeout, String activation, Path identity,
                          String joinToken, long benchmarkMillis) {
    }

    /** A node of the cluster as the scheduler sees it. */
    private static final class Member {
        final PeerId peer;
        final NodeProfile profile;
        final List<String> addresses;
        int missedHeartbeats;
        volatile String state = "joined";
        // Read by snapshot() only, for the dashboard.
        final long joinedMillis = System.currentTimeMillis();
        volatile String name;
        volatile double bandwidth;
        volatile Double rttMillis;
        volatile long heartbeatMillis;

        Member(PeerId peer, NodeProfile profile, List<String> addresses) {
            this.peer = peer;
            this.profile = profile;
            this.addresses = addresses;
        }
    }

    private final Options options;
    private final PrintWriter log;
    private final ApiServer api;
    private final ScheduledExecutorService control = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon().name("parallax-scheduler").unstarted(r));
    // Synchronized only so that snapshot() can copy it from another thread; the control thread alone writes it.
    private final Map<PeerId, Member> members = java.util.Collections.synchronizedMap(new LinkedHashMap<>());
    private final ClusterEventLog events = new ClusterEventLog(200);
    private final RebalancePolicy policy = new RebalancePolicy(0.25);
    private Ops ops;
    private P2pNode node;
    private JoinToken token;
    private ModelConfig config;
    private ModelFootprint footprint;
    private Tokenizer tokenizer;
    private PipelineStepRunner runner;
    private InferenceEngine engine;
    private StageHost localStage;
    private ServedModel served;
    private volatile Allocation current;
    /** The allocation being carried out or last carried out, for snapshot(); current is null while it loads. */
    private volatile Allocation pending;
    private volatile long epoch;
    private volatile String lastWaitMessage;
    private volatile boolean closed;

    private ClusterScheduler(Options options, PrintWriter log, ApiServer api) {
        this.options = options;
        this.log = log;
        this.api = api;
    }

    public static ClusterScheduler start(Options o, PrintWriter log) {
        return start(o, log, new ApiServer(o.host(), o.port(), o.apiKey()).start());
    }

    /**
     * Starts on an API server that already runs (the dashboard's setup page chose the model there); the scheduler
     * closes it when it closes.
     */
    public static ClusterScheduler start(Options o, PrintWriter log, ApiServer api) {
        ClusterScheduler s = new ClusterScheduler(o, log, api);
        try {
            s.begin();
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    public int port() {
        return api.port();
    }

    public P2pNode node() {
        return node;
    }

    public String joinToken() {
        return token.toString();
    }

    /** The join command a node runs, with this scheduler's address and token. */
    public String joinCommand() {
        return "parallax join -s " + node.listenAddrs().getFirst() + " --token " + token;
    }

    private void begin() {
        Path dir = options.model();
        config = ModelConfig.read(dir);
        try {
            tokenizer = Tokenizer.load(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        GenerationConfig generation = GenerationConfig.read(dir, config);
        int context = Math.min(options.maxContext(), config.maxPositionEmbeddings());
        footprint = ModelFootprint.of(dir, config, (long) options.kvBlocks() * options.blockSize());
        ops = options.threads() == null ? new SimdOps() : new SimdOps(options.threads());

        IdentityKeyPair identity;
        try {
            identity = options.identity() != null ? IdentityFile.loadOrCreate(options.identity())
                    : IdentityKeyPair.generate();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the identity file " + options.identity(), e);
        }
        token = options.joinToken() != null ? JoinToken.parse(options.joinToken()) : JoinToken.generate();
        node = new P2pNode(identity, P2pNode.Options.defaults().withHost(options.host()).withPort(options.p2pPort()));
        new ClusterAdmission(token).install(node);
        runner = new PipelineStepRunner(config.vocabSize(), context, options.recoveryTimeout(), Duration.ofSeconds(60),
                reason -> control.execute(() -> reallocate("a step failed: " + reason, true)));
        ActivationLink.serve(node, this::onActivation);
        RequestResponse.serve(node, ClusterMessages.CLUSTER_INFO, (peer, request) -> CompletableFuture.completedFuture(
                ClusterMessages.encode(new ClusterInfo(modelName(), config.numLayers(), config.modelType()))));
        RequestResponse.serve(node, ClusterMessages.JOIN, (peer, request) -> {
            JoinRequest join = ClusterMessages.decode(request.retain(), JoinRequest.class);
            CompletableFuture<io.netty.buffer.ByteBuf> reply = new CompletableFuture<>();
            control.execute(() -> reply.complete(ClusterMessages.encode(onJoin(peer, join))));
            return reply;
        });
        node.onConnection(this::watch);
        try {
            node.start();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting the P2P node", e);
        }

        EngineConfig engineConfig = new EngineConfig(options.blockSize(), options.kvBlocks(),
                options.maxPrefillChunk(), options.maxRunning(), options.maxQueue());
        engine = new InferenceEngine(runner, tokenizer, generation.eosTokenIds(), engineConfig).start();
        ChatPromptFormatter chat = ChatPromptFormatter.forModel(dir, tokenizer, options.chatTemplate());
        served = new ServedModel(modelName(), engine, tokenizer, chat, System.currentTimeMillis() / 1000);

        log.printf(Locale.ROOT, "scheduler %s listening on %s%n", node.peerId(), node.listenAddrs());
        log.printf(Locale.ROOT, "model %s: %d layers, %.1f MiB per layer with KV reserve, one copy needs %.1f MiB%n",
                modelName(), footprint.layers(), footprint.bytesPerLayer() / 1048576.0,
                footprint.wholeModelBytes() / 1048576.0);
        log.printf(Locale.ROOT, "API on http://%s:%d (answers 503 until a pipeline is ready)%n", options.host(),
                api.port());
        log.printf(Locale.ROOT, "join this cluster with:%n  %s%n", joinCommand());
        log.flush();

        if (options.localWorker()) {
            control.execute(() -> {
                HardwareProbe probe = HardwareProbe.measure(options.localMemory(), options.benchmarkMillis());
                localStage = new StageHost(node, ops, dir, node.peerId(), runner::deliver, log);
                Member self = new Member(node.peerId(), new NodeProfile(node.peerId().toString(),
                        probe.memoryBytes(), probe.gflops()),
                        node.listenAddrs().stream().map(Multiaddr::toString).toList());
                self.name = hostName();
                self.bandwidth = probe.gbPerSecond();
                members.put(node.peerId(), self);
                log.printf(Locale.ROOT, "local worker: %.1f MiB, %.1f GFLOP/s, %.1f GB/s%n",
                        probe.memoryBytes() / 1048576.0, probe.gflops(), probe.gbPerSecond());
                reallocate("the scheduler's own worker is ready", false);
            });
        }
        control.scheduleWithFixedDelay(this::heartbeat, HEARTBEAT.toMillis(), HEARTBEAT.toMillis(),
                TimeUnit.MILLISECONDS);
    }

    private String modelName() {
        return options.servedName() != null ? options.servedName() : options.model().getFileName().toString();
    }

    private JoinReply onJoin(PeerId peer, JoinRequest join) {
        NodeProfile profile;
        try {
            profile = new NodeProfile(peer.toString(), join.memoryBytes(), Math.max(join.speed(), 1e-6));
        } catch (IllegalArgumentException e) {
            return new JoinReply(false, e.getMessage());
        }
        Member member = new Member(peer, profile, join.addresses() == null ? List.of() : join.addresses());
        member.name = join.name();
        member.bandwidth = join.bandwidth();
        members.put(peer, member);
        events.add("join", String.format(Locale.ROOT, "node %s (%s) joined: %.0f MiB, %.1f GFLOP/s, %.1f GB/s",
                join.name(), shortId(peer), join.memoryBytes() / 1048576.0, join.speed(), join.bandwidth()));
        log.printf(Locale.ROOT, "node %s joined: %.1f MiB, %.1f GFLOP/s, %.1f GB/s (%d node%s)%n", peer,
                join.memoryBytes() / 1048576.0, join.speed(), join.bandwidth(), members.size(),
                members.size() == 1 ? "" : "s");
        log.flush();
        control.execute(() -> reallocate("node " + shortId(peer) + " joined", false));
        return new JoinReply(true, "joined; the scheduler will assign layers");
    }

    private void watch(P2pConnection connection) {
        PeerId peer = connection.remotePeer();
        connection.closeFuture().whenComplete((v, e) -> control.execute(() -> {
            if (node.connection(peer).isEmpty()) {
                gone(peer, "its connection closed");
            }
        }));
    }

    private void heartbeat() {
        for (Member m : new ArrayList<>(members.values())) {
            if (m.peer.equals(node.peerId())) {
                continue;
            }
            node.ping(m.peer).orTimeout(HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS).whenComplete((rtt, e) ->
                    control.execute(() -> {
                        if (e == null) {
                            m.missedHeartbeats = 0;
                            m.rttMillis = rtt.toNanos() / 1e6;
                            m.heartbeatMillis = System.currentTimeMillis();
                        } else if (++m.missedHeartbeats >= MISSED_HEARTBEATS && members.containsKey(m.peer)) {
                            gone(m.peer, MISSED_HEARTBEATS + " missed heartbeats");
                        }
                    }));
        }
    }

    private void gone(PeerId peer, String why) {
        if (members.remove(peer) == null || closed) {
            return;
        }
        log.printf(Locale.ROOT, "node %s is gone: %s (%d node%s left)%n", peer, why, members.size(),
                members.size() == 1 ? "" : "s");
        events.add("leave", "node " + shortId(peer) + " left: " + why);
        log.flush();
        boolean serving = current != null && current.pipelines().getFirst().nodeIds().contains(peer.toString());
        if (serving) {
            runner.deactivate("node " + shortId(peer) + " is gone");
        }
        reallocate("node " + shortId(peer) + " is gone", serving);
    }

    /** Runs on the control thread: asks the policy, and carries out its decision. */
    private void reallocate(String why, boolean force) {
        if (closed) {
            return;
        }
        if (force) {
            events.add("failure", why);
        }
        if (members.size() < options.minNodes()) {
            waiting("waiting for nodes: " + members.size() + " of " + options.minNodes() + " (-n) have joined");
            return;
        }
        List<NodeProfile> alive = members.values().stream().map(m -> m.profile).toList();
        Optional<RebalancePolicy.Decision> decision;
        try {
            decision = force ? Optional.of(new RebalancePolicy.Decision(LayerAllocator.allocate(alive, footprint), why))
                    : policy.decide(current, alive, footprint).map(d -> new RebalancePolicy.Decision(d.allocation(),
                    why + ": " + d.reason()));
        } catch (InsufficientMemoryException e) {
            current = null;
            runner.deactivate("not enough memory");
            waiting("waiting for nodes: " + e.getMessage());
            return;
        }
        if (decision.isEmpty()) {
            log.printf(Locale.ROOT, "%s: allocation unchanged (%s)%n", why, current);
            log.flush();
            return;
        }
        apply(decision.get());
    }

    private void waiting(String message) {
        if (!message.equals(lastWaitMessage)) {
            lastWaitMessage = message;
            events.add("info", message);
            log.println(message);
            log.flush();
        }
    }

    private void apply(RebalancePolicy.Decision decision) {
        Allocation allocation = decision.allocation();
        long e = ++epoch;
        pending = allocation;
        lastWaitMessage = null;
        log.printf(Locale.ROOT, "allocation %d: %s -> %s%n", e, decision.reason(), allocation);
        events.add("allocation", "allocation " + e + " (" + decision.reason() + "): " + allocation);
        log.flush();
        runner.deactivate("re-allocating");
        current = null;
        // One engine serves one pipeline for now; the nodes of any further pipeline wait on standby.
        Allocation.Pipeline pipeline = allocation.pipelines().getFirst();
        List<Allocation.Stage> stages = pipeline.stages();
        Map<PeerId, CompletableFuture<AssignmentReply>> replies = new LinkedHashMap<>();
        // Stages load last to first, each after the next one is ready: a stage links to its successor as it loads,
        // and the successor only accepts the link once it knows its predecessor.
        List<Member> order = new ArrayList<>(members.values());
        order.sort(java.util.Comparator.comparingInt(m -> -pipeline.nodeIds().indexOf(m.peer.toString())));
        for (Member m : order) {
            int index = pipeline.nodeIds().indexOf(m.peer.toString());
            Assignment a;
            if (index < 0) {
                a = new Assignment(e, modelName(), 0, 0, config.numLayers(), 0, 0, 0, options.activation(), null, null);
                m.state = "standby";
            } else {
                Allocation.Stage s = stages.get(index);
                String previous = index == 0 ? null : stages.get(index - 1).nodeId();
                String next = index == stages.size() - 1 ? null : addressOf(PeerId.parse(stages.get(index + 1).nodeId()));
                a = new Assignment(e, modelName(), s.layers().start(), s.layers().end(), s.layers().total(),
                        options.kvBlocks(), options.blockSize(), runner.maxPositions(), options.activation(), previous,
                        next);
                m.state = "loading";
            }
            CompletableFuture<AssignmentReply> reply = assign(m.peer, a);
            if (index >= 0) {
                try {
                    reply.get(10, TimeUnit.MINUTES);
                } catch (Exception ignored) {
                    // reported with the others below
                }
            }
            replies.put(m.peer, reply);
        }
        List<String> failures = new ArrayList<>();
        for (Map.Entry<PeerId, CompletableFuture<AssignmentReply>> r : replies.entrySet()) {
            AssignmentReply reply;
            try {
                reply = r.getValue().get(10, TimeUnit.MINUTES);
            } catch (Exception ex) {
                reply = new AssignmentReply(false, String.valueOf(ex.getCause() != null ? ex.getCause() : ex), 0);
            }
            Member m = members.get(r.getKey());
            if (!reply.loaded()) {
                failures.add(shortId(r.getKey()) + ": " + reply.error());
                if (m != null) {
                    members.remove(r.getKey()); // it cannot serve what it was given; it may join again
                    log.printf(Locale.ROOT, "node %s could not load its stage and is dropped: %s%n", r.getKey(),
                            reply.error());
                }
            } else if (m != null && !"standby".equals(m.state)) {
                m.state = "ready";
            }
        }
        if (!failures.isEmpty()) {
            log.flush();
            reallocate("allocation " + e + " failed (" + String.join("; ", failures) + ")", true);
            return;
        }
        PeerId first = PeerId.parse(stages.getFirst().nodeId());
        PipelineStepRunner.Entry entry;
        if (first.equals(node.peerId())) {
            StageWorker w = localStage.worker();
            entry = w::submit;
        } else {
            try {
                ActivationLink link = ActivationLink.open(node, first, this::onActivation, Duration.ofSeconds(10));
                entry = frame -> link.send(frame).whenComplete((v, ex) -> {
                    if (ex != null) {
                        runner.deliver(StepFrame.failed(frame.epoch, frame.step, "sending to the first stage failed: "
                                + ex.getMessage()));
                    }
                });
            } catch (RuntimeException ex) {
                reallocate("cannot reach the first stage: " + ex.getMessage(), true);
                return;
            }
        }
        current = allocation;
        runner.activate(e, entry);
        log.printf(Locale.ROOT, "allocation %d: pipeline ready over %d stage%s%n", e, stages.size(),
                stages.size() == 1 ? "" : "s");
        events.add("info", "allocation " + e + ": pipeline ready over " + stages.size() + " stage"
                + (stages.size() == 1 ? "" : "s"));
        log.flush();
        if (api.model() == null) {
            api.ready(served);
            log.printf(Locale.ROOT, "serving %s on http://%s:%d%n", modelName(), options.host(), api.port());
            log.flush();
        }
    }

    private CompletableFuture<AssignmentReply> assign(PeerId peer, Assignment a) {
        if (peer.equals(node.peerId())) {
            return CompletableFuture.supplyAsync(() -> localStage.apply(a));
        }
        return RequestResponse.request(node, peer, ClusterMessages.ASSIGN, ClusterMessages.encode(a),
                Duration.ofMinutes(10)).thenApply(b -> ClusterMessages.decode(b, AssignmentReply.class));
    }

    private String addressOf(PeerId peer) {
        if (peer.equals(node.peerId())) {
            return node.listenAddrs().getFirst().toString();
        }
        Member m = members.get(peer);
        if (m == null || m.addresses.isEmpty()) {
            throw new IllegalStateException("node " + peer + " announced no address");
        }
        return m.addresses.getFirst();
    }

    /** Frames arriving here: steps for our own stage, or the last stage's answers. */
    private void onActivation(PeerId from, StepFrame frame) {
        if (frame.kind == StepFrame.Kind.STEP) {
            if (localStage != null) {
                localStage.onInbound(from, frame);
            }
        } else {
            runner.deliver(frame);
        }
    }

    static String shortId(PeerId peer) {
        String s = peer.toString();
        return s.length() > 12 ? "…" + s.substring(s.length() - 8) : s;
    }

    // ---- Read-only view for the dashboard (ai.parallax.server.dashboard.ClusterSchedulerView) ----

    /** The cluster as it is now; safe to call from any thread, never blocks on the control thread. */
    public ClusterSnapshot snapshot() {
        List<Member> copy;
        synchronized (members) {
            copy = new ArrayList<>(members.values());
        }
        List<ClusterSnapshot.Member> list = copy.stream().map(m -> new ClusterSnapshot.Member(m.peer.toString(),
                m.name != null ? m.name : shortId(m.peer), node != null && m.peer.equals(node.peerId()), m.state,
                m.profile.memoryBytes(), m.profile.speed(), m.bandwidth, m.joinedMillis, m.rttMillis,
                m.heartbeatMillis)).toList();
        InferenceEngine e = engine;
        return new ClusterSnapshot(modelName(), config.numLayers(), node.peerId().toString(), joinCommand(),
                options.minNodes(), lastWaitMessage, epoch, current != null ? current : pending,
                current != null && runner.isActive(),
                footprint, e == null ? null : e.stats(), list, events.list());
    }

    /** The HTTP server of the API and the dashboard. */
    public ApiServer api() {
        return api;
    }

    static String hostName() {
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    @Override
    public void close() {
        closed = true;
        api.close();
        control.shutdownNow();
        if (engine != null) {
            engine.close();
        }
        if (localStage != null) {
            localStage.close();
        }
        if (node != null) {
            node.close();
        }
        if (ops != null) {
            ops.close();
        }
    }
}

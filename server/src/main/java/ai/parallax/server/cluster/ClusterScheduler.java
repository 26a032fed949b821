package ai.parallax.server.cluster;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.LayerProfile;
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
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.EngineStats;
import ai.parallax.runtime.engine.GenerationListener;
import ai.parallax.runtime.engine.RequestHandle;
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
import ai.parallax.server.scheduler.CarriedEngines;
import ai.parallax.server.scheduler.InsufficientMemoryException;
import ai.parallax.server.scheduler.LayerAllocator;
import ai.parallax.server.scheduler.ModelFootprint;
import ai.parallax.server.scheduler.NodeProfile;
import ai.parallax.server.scheduler.PipelineRepair;
import ai.parallax.server.scheduler.RebalancePolicy;
import ai.parallax.server.scheduler.RequestRouter;
import ai.parallax.tensors.ops.Ops;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code parallax serve} for a cluster: the API, one engine per pipeline (each over a {@link PipelineStepRunner}),
 * the router that sends each request to the pipeline expected to answer it soonest, and the P2P node that nodes
 * join. It gathers the inputs of the pure decisions ({@link RebalancePolicy}, {@link LayerAllocator}), calls
 * them when nodes join, die or a step fails, and carries out what they decide: stage assignments, then the pipeline.
 *
 * <p>All membership and allocation work runs on one control thread, in order, so decisions never interleave.
 */
public final class ClusterScheduler implements AutoCloseable {
    private static final Duration HEARTBEAT = Duration.ofSeconds(1);
    /** Heartbeats whose least round trip routing counts as a link's latency. */
    private static final int RTT_WINDOW = 8;
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
        /** Round trip from the scheduler, smoothed over the heartbeat pings; 0 for the scheduler's own worker. */
        volatile double rttMillis;
        /**
         * The least round trip of the last {@link #RTT_WINDOW} heartbeats: the link's own latency, without the
         * moments when a busy CPU (here or there) held a ping back, which the stages' step times already count.
         * This is what routing adds per link.
         */
        volatile double linkMillis;
        private final double[] recentRtts = new double[RTT_WINDOW];
        private int rttSamples;
        /** Loading progress the node reported, 0 to 1, while it loads a stage. */
        volatile double loadProgress;
        // Read by snapshot() only, for the dashboard.
        final long joinedMillis = System.currentTimeMillis();
        volatile String name;
        volatile double bandwidth;
        volatile long heartbeatMillis;

        Member(PeerId peer, NodeProfile profile, List<String> addresses) {
            this.peer = peer;
            this.profile = profile;
            this.addresses = addresses;
        }

        /** A heartbeat's round trip (on the control thread). */
        void roundTrip(double sample) {
            rttMillis = rttMillis == 0 ? sample : 0.7 * rttMillis + 0.3 * sample;
            recentRtts[rttSamples++ % RTT_WINDOW] = sample;
            double least = Double.POSITIVE_INFINITY;
            for (int i = 0; i < Math.min(rttSamples, RTT_WINDOW); i++) {
                least = Math.min(least, recentRtts[i]);
            }
            linkMillis = least;
        }
    }

    private final Options options;
    private final PrintWriter log;
    private final ApiServer api;
    private final ScheduledExecutorService control = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon().name("parallax-scheduler").unstarted(r));
    private final Map<PeerId, Member> members = new LinkedHashMap<>();
    /** A copy of {@code members}' values, for the status API and progress reports (other threads). */
    private volatile List<Member> memberView = List.of();
    private final ClusterEventLog events = new ClusterEventLog(200);
    private final RebalancePolicy policy = new RebalancePolicy(0.25);
    private Ops ops;
    private P2pNode node;
    private JoinToken token;
    private ModelConfig config;
    private ModelFootprint footprint;
    private Tokenizer tokenizer;
    private GenerationConfig generation;
    private EngineConfig engineConfig;
    private int context;
    /** State slots each engine's sequences take on the stages: its max running, or 0 for a model without state. */
    private int slotsPerEngine;
    /** Step numbers shared by every runner, so a frame coming back from a last stage finds its runner. */
    private final AtomicLong steps = new AtomicLong();
    /** The engines, by index; engine i serves pipeline i of the allocation (or is carried by another, see apply). */
    private volatile List<ServingPipeline> pipelines = List.of();
    private StageHost localStage;
    /** The streams to remote first stages of the allocation in force; closed when the next one replaces it. */
    /** The streams to each pipeline's first stage, by pipeline index. */
    private final Map<Integer, ActivationLink> entryLinks = new HashMap<>();
    private ServedModel served;
    private ChatPromptFormatter chat;
    private volatile Allocation current;
    private volatile long epoch;
    private String lastRoutingSummary = "";
    private volatile String lastWaitMessage;
    /** The allocation being carried out or last carried out, for snapshot(); current is null while it loads. */
    private volatile Allocation pending;
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
        generation = GenerationConfig.read(dir, config);
        context = Math.min(options.maxContext(), config.maxPositionEmbeddings());
        slotsPerEngine = keepsStatePerSequence(config) ? options.maxRunning() : 0;
        footprint = ModelFootprint.of(dir, config, (long) options.kvBlocks() * options.blockSize(), slotsPerEngine);
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

        engineConfig = new EngineConfig(options.blockSize(), options.kvBlocks(), options.maxPrefillChunk(),
                options.maxRunning(), options.maxQueue());
        chat = ChatPromptFormatter.forModel(dir, tokenizer, options.chatTemplate());
        RequestResponse.serve(node, ClusterMessages.PROGRESS, (peer, request) -> {
            onProgress(peer, ClusterMessages.decode(request.retain(), ClusterMessages.Progress.class));
            return CompletableFuture.completedFuture(ClusterMessages.encode(new ClusterMessages.Ack(true)));
        });

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
                localStage = new StageHost(node, ops, dir, node.peerId(), this::deliverToRunners, log);
                Member self = new Member(node.peerId(), new NodeProfile(node.peerId().toString(),
                        probe.memoryBytes(), probe.gflops()),
                        node.listenAddrs().stream().map(Multiaddr::toString).toList());
                self.name = hostName();
                self.bandwidth = probe.gbPerSecond();
                members.put(node.peerId(), self);
                membersChanged();
                localStage.onProgress((epoch, fraction) -> onProgress(node.peerId(),
                        new ClusterMessages.Progress(epoch, fraction)));
                log.printf(Locale.ROOT, "local worker: %.1f MiB, %.1f GFLOP/s, %.1f GB/s%n",
                        probe.memoryBytes() / 1048576.0, probe.gflops(), probe.gbPerSecond());
                reallocate("the scheduler's own worker is ready", false);
            });
        }
        control.scheduleWithFixedDelay(this::heartbeat, HEARTBEAT.toMillis(), HEARTBEAT.toMillis(),
                TimeUnit.MILLISECONDS);
        control.scheduleWithFixedDelay(this::logRouting, 2, 2, TimeUnit.SECONDS);
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
        membersChanged();
        events.add("join", String.format(Locale.ROOT, "node %s (%s) joined: %.0f MiB, %.1f GFLOP/s, %.1f GB/s on %s",
                join.name(), shortId(peer), join.memoryBytes() / 1048576.0, join.speed(), join.bandwidth(),
                join.device() == null ? "cpu" : join.device()));
        log.printf(Locale.ROOT, "node %s joined: %.1f MiB, %.1f GFLOP/s, %.1f GB/s on %s (%d node%s)%n", peer,
                join.memoryBytes() / 1048576.0, join.speed(), join.bandwidth(),
                join.device() == null ? "cpu" : join.device(), members.size(),
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
                            m.roundTrip(rtt.toNanos() / 1e6);
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
        membersChanged();
        log.printf(Locale.ROOT, "node %s is gone: %s (%d node%s left)%n", peer, why, members.size(),
                members.size() == 1 ? "" : "s");
        events.add("leave", "node " + shortId(peer) + " left: " + why);
        log.flush();
        boolean serving = false;
        for (ServingPipeline p : pipelines) {
            if (p.nodes().contains(peer.toString())) {
                p.runner.deactivate("node " + shortId(peer) + " is gone");
                serving = true;
            }
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
        // -n holds back the first allocation only; later, whatever nodes are alive are used.
        if (epoch == 0 && members.size() < options.minNodes()) {
            waiting("waiting for nodes: " + members.size() + " of " + options.minNodes() + " (-n) have joined");
            return;
        }
        List<NodeProfile> alive = members.values().stream().map(m -> m.profile).toList();
        if (force && repair(why, alive)) {
            return;
        }
        Optional<RebalancePolicy.Decision> decision;
        try {
            decision = force ? Optional.of(new RebalancePolicy.Decision(LayerAllocator.allocate(alive, footprint), why))
                    : policy.decide(current, alive, footprint).map(d -> new RebalancePolicy.Decision(d.allocation(),
                    why + ": " + d.reason()));
        } catch (InsufficientMemoryException e) {
            current = null;
            for (ServingPipeline p : pipelines) {
                p.runner.deactivate("not enough memory");
            }
            waiting("waiting for nodes: " + e.getMessage());
            return;
        }
        if (decision.isEmpty()) {
            log.printf(Locale.ROOT, "%s: allocation unchanged (%s)%n", why, current);
            log.flush();
            return;
        }
        CarriedEngines.Sized sized = CarriedEngines.size(decision.get().allocation(), alive, footprint,
                busyEngines());
        String reason = decision.get().reason();
        if (sized.enginesPerPipeline() > 1) {
            reason += sized.kvCounted() ? "; each pipeline keeps KV for " + sized.enginesPerPipeline()
                    + " engines while a removed pipeline's requests finish"
                    : "; the nodes cannot hold KV for " + sized.enginesPerPipeline() + " engines per pipeline: "
                    + "carrying a removed pipeline's requests over-commits their memory until those finish";
        }
        apply(new RebalancePolicy.Decision(sized.allocation(), reason), Set.of());
    }

    /**
     * Rebuilds only the broken pipelines ({@link PipelineRepair}) when the free nodes can: the healthy pipelines
     * keep their stages, KV caches and running requests. Returns false when no repair applies.
     */
    private boolean repair(String why, List<NodeProfile> alive) {
        Allocation now = current;
        if (now == null || pipelines.size() != now.pipelines().size()) {
            return false; // nothing serves, or engines are carried: re-allocate everything
        }
        Set<Integer> broken = new TreeSet<>();
        Set<String> aliveIds = new HashSet<>();
        alive.forEach(n -> aliveIds.add(n.id()));
        for (int p = 0; p < now.pipelines().size(); p++) {
            if (!aliveIds.containsAll(now.pipelines().get(p).nodeIds()) || !pipelines.get(p).runner.isActive()) {
                broken.add(p);
            }
        }
        Optional<Allocation> repaired = PipelineRepair.repair(now, broken, alive, footprint);
        if (repaired.isEmpty()) {
            return false;
        }
        Set<Integer> kept = new TreeSet<>();
        for (int p = 0; p < now.pipelines().size(); p++) {
            if (!broken.contains(p)) {
                kept.add(p);
            }
        }
        apply(new RebalancePolicy.Decision(repaired.get(), why + "; pipeline" + (broken.size() == 1 ? " " : "s ")
                + broken + " rebuilt from the free nodes, pipeline" + (kept.size() == 1 ? " " : "s ") + kept
                + " kept serving"), kept);
        return true;
    }

    /** Engines up to the last one with requests in flight (engines carry their index for life). */
    private int busyEngines() {
        int busy = 0;
        for (ServingPipeline p : pipelines) {
            if (p.inFlight() > 0) {
                busy = Math.max(busy, p.index + 1);
            }
        }
        return busy;
    }

    private void waiting(String message) {
        if (!message.equals(lastWaitMessage)) {
            lastWaitMessage = message;
            events.add("info", message);
            log.println(message);
            log.flush();
        }
    }

    /**
     * Carries out an allocation: every pipeline's stages load (last to first, since a stage links to its successor
     * as it loads), then each pipeline gets its engine. Engine i serves pipeline i; an engine left without a
     * pipeline (the allocation shrank) while it still has requests is carried by pipeline {@code i mod k}, in its own
     * range of that pipeline's KV pool, so its requests replay there instead of failing. The pipelines in
     * {@code kept} (a repair) are the allocation in force's, unchanged: their nodes get no new assignment, their
     * stages keep their allocation number and KV caches, and their engines keep stepping throughout.
     */
    private void apply(RebalancePolicy.Decision decision, Set<Integer> kept) {
        Allocation allocation = decision.allocation();
        long e = ++epoch;
        pending = allocation;
        lastWaitMessage = null;
        log.printf(Locale.ROOT, "allocation %d: %s -> %s%n", e, decision.reason(), allocation);
        events.add("allocation", "allocation " + e + " (" + decision.reason() + "): " + allocation);
        log.flush();
        for (ServingPipeline p : pipelines) {
            if (!kept.contains(p.index)) {
                p.runner.deactivate("re-allocating");
            }
        }
        closeEntryLinks(kept);
        current = null;
        int k = allocation.pipelines().size();
        List<ServingPipeline> engines = new ArrayList<>(pipelines);
        while (engines.size() < k) {
            engines.add(newServingPipeline(engines.size()));
        }
        while (engines.size() > k && engines.getLast().inFlight() == 0) {
            engines.removeLast().close();
        }
        List<List<ServingPipeline>> carried = new ArrayList<>();
        for (int p = 0; p < k; p++) {
            carried.add(new ArrayList<>());
        }
        for (ServingPipeline s : engines) {
            s.carriedBy(List.of(), false);
            carried.get(s.index % k).add(s);
        }
        pipelines = List.copyOf(engines);

        Map<PeerId, CompletableFuture<AssignmentReply>> replies = new LinkedHashMap<>();
        List<String> failures = new ArrayList<>();
        for (int p = 0; p < k; p++) {
            if (kept.contains(p)) {
                continue;
            }
            List<Allocation.Stage> stages = allocation.pipelines().get(p).stages();
            for (int i = stages.size() - 1; i >= 0; i--) {
                Allocation.Stage s = stages.get(i);
                PeerId peer = PeerId.parse(s.nodeId());
                Member m = members.get(peer);
                if (m == null) {
                    failures.add(shortId(peer) + ": left before its stage was assigned");
                    continue;
                }
                String previous = i == 0 ? null : stages.get(i - 1).nodeId();
                String next = i == stages.size() - 1 ? null : addressOf(PeerId.parse(stages.get(i + 1).nodeId()));
                Assignment a = new Assignment(e, modelName(), s.layers().start(), s.layers().end(),
                        s.layers().total(), options.kvBlocks() * carried.get(p).size(), options.blockSize(), context,
                        options.activation(), previous, next, slotsPerEngine * carried.get(p).size());
                m.state = "loading";
                m.loadProgress = 0;
                CompletableFuture<AssignmentReply> reply = assign(m.peer, a);
                try {
                    reply.get(10, TimeUnit.MINUTES);
                } catch (Exception ignored) {
                    // reported with the others below
                }
                replies.put(m.peer, reply);
            }
        }
        for (Member m : members.values()) {
            if (!allocation.activeNodes().contains(m.peer.toString())) {
                m.state = "standby";
                replies.put(m.peer, assign(m.peer, new Assignment(e, modelName(), 0, 0, config.numLayers(), 0, 0, 0,
                        options.activation(), null, null)));
            }
        }
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
                    membersChanged();
                    log.printf(Locale.ROOT, "node %s could not load its stage and is dropped: %s%n", r.getKey(),
                            reply.error());
                }
            } else if (m != null && !"standby".equals(m.state)) {
                m.state = "ready";
                m.loadProgress = 1;
            }
        }
        if (!failures.isEmpty()) {
            log.flush();
            reallocate("allocation " + e + " failed (" + String.join("; ", failures) + ")", true);
            return;
        }
        List<PipelineStepRunner.Entry> entries = new ArrayList<>();
        for (int p = 0; p < k; p++) {
            Allocation.Pipeline pipeline = allocation.pipelines().get(p);
            if (kept.contains(p)) {
                entries.add(null); // its runner keeps the entry it has
                continue;
            }
            PeerId first = PeerId.parse(pipeline.stages().getFirst().nodeId());
            if (first.equals(node.peerId())) {
                StageWorker w = localStage.worker();
                entries.add(w::submit);
                continue;
            }
            try {
                ActivationLink link = ActivationLink.open(node, first, this::onActivation, Duration.ofSeconds(10));
                entryLinks.put(p, link);
                entries.add(frame -> link.send(frame).whenComplete((v, ex) -> {
                    if (ex != null) {
                        deliverToRunners(StepFrame.failed(frame.epoch, frame.step, "sending to the first stage "
                                + "failed: " + ex.getMessage()));
                    }
                }));
            } catch (RuntimeException ex) {
                reallocate("cannot reach the first stage " + shortId(first) + ": " + ex.getMessage(), true);
                return;
            }
        }
        current = allocation;
        StringBuilder shape = new StringBuilder();
        StringBuilder carrying = new StringBuilder();
        for (int p = 0; p < k; p++) {
            Allocation.Pipeline pipeline = allocation.pipelines().get(p);
            List<ServingPipeline> here = carried.get(p);
            for (int j = 0; j < here.size(); j++) {
                ServingPipeline s = here.get(j);
                s.carriedBy(pipeline.nodeIds(), s.index == p);
                if (!kept.contains(p)) {
                    s.runner.activate(e, entries.get(p), j * options.kvBlocks(), j * slotsPerEngine);
                }
                if (s.index != p) {
                    carrying.append("; pipeline ").append(p).append(" also carries engine ").append(s.index)
                            .append(" until its requests finish");
                }
            }
            shape.append(p == 0 ? "" : " + ").append(pipeline.stages().size());
        }
        log.printf(Locale.ROOT, "allocation %d: pipeline ready (%d pipeline%s of %s stages)%s%n", e, k,
                k == 1 ? "" : "s", shape, carrying);
        events.add("info", String.format(Locale.ROOT, "allocation %d: pipeline ready (%d pipeline%s of %s stages)",
                e, k, k == 1 ? "" : "s", shape));
        log.flush();
        if (api.model() == null) {
            served = new ServedModel(modelName(), pipelines.getFirst().engine, this::route, tokenizer, chat,
                    System.currentTimeMillis() / 1000);
            api.ready(served);
            log.printf(Locale.ROOT, "serving %s on http://%s:%d%n", modelName(), options.host(), api.port());
            log.flush();
        }
    }

    /**
     * Whether some layer of the model keeps state per sequence rather than per position (linear attention's
     * recurrent state, a sliding layer's ring of its window): its engines then name a state slot per sequence, as the
     * single-machine engine does, whichever stages hold those layers.
     */
    static boolean keepsStatePerSequence(ModelConfig config) {
        for (int layer = 0; layer < config.numLayers(); layer++) {
            LayerProfile profile = LayerProfile.of(config, layer);
            if (profile.window() > 0 || profile.stateBytesPerSequence() > 0) {
                return true;
            }
        }
        return false;
    }

    private ServingPipeline newServingPipeline(int index) {
        PipelineStepRunner[] runner = new PipelineStepRunner[1];
        runner[0] = new PipelineStepRunner(config.vocabSize(), context, slotsPerEngine, options.recoveryTimeout(),
                Duration.ofSeconds(60), reason -> {
            long failedEpoch = runner[0].epoch();
            control.execute(() -> {
                // A failure from before the runner's last activation was dealt with by that re-allocation; a pipeline
                // kept by a repair keeps its older allocation number, and its failures still count.
                if (failedEpoch == runner[0].epoch()) {
                    reallocate("a step of pipeline " + index + " failed: " + reason, true);
                }
            });
        }, steps);
        InferenceEngine engine = new InferenceEngine(runner[0], tokenizer, generation.eosTokenIds(), engineConfig)
                .start();
        return new ServingPipeline(index, runner[0], engine);
    }

    /**
     * Where the API's requests go: to the pipeline expected to finish the request soonest, by
     * {@link RequestRouter}'s rule over each pipeline's measured step time, requests in flight and link round trips.
     * While every pipeline is being rebuilt, the request waits in the engine least loaded. Synchronized so that
     * requests arriving together see each other's choice (in flight counts) instead of all picking one pipeline.
     */
    private synchronized RequestHandle route(GenerationRequest request, GenerationListener listener) {
        List<ServingPipeline> list = pipelines;
        int chosen = RequestRouter.choose(loads(list, false));
        if (chosen < 0) {
            chosen = Math.max(0, RequestRouter.choose(loads(list, true)));
        }
        return list.get(chosen).submit(request, listener);
    }

    /** Each engine's load for the router; {@code waiting} also offers engines whose pipeline is being rebuilt. */
    private List<RequestRouter.PipelineLoad> loads(List<ServingPipeline> list, boolean waiting) {
        Map<String, Double> rtts = new HashMap<>();
        for (Member m : memberView) { // not members: this runs on the API's threads
            rtts.put(m.peer.toString(), m.linkMillis);
        }
        List<RequestRouter.PipelineLoad> loads = new ArrayList<>(list.size());
        for (ServingPipeline p : list) {
            double step = p.runner.meanStepMillis();
            double rtt = 0;
            for (String id : p.nodes()) {
                rtt += rtts.getOrDefault(id, 0.0);
            }
            loads.add(new RequestRouter.PipelineLoad(step, p.inFlight(), rtt,
                    p.owner() && (waiting || p.runner.isActive())));
        }
        return loads;
    }

    /** Logs how many requests each engine has taken, when that changed: the routing at work, for operators. */
    private void logRouting() {
        List<ServingPipeline> list = pipelines;
        if (list.size() < 2) {
            return;
        }
        StringBuilder b = new StringBuilder("requests by pipeline:");
        for (ServingPipeline p : list) {
            b.append(String.format(Locale.ROOT, " #%d %d (%d in flight, %.1f ms/step)", p.index, p.requests(),
                    p.inFlight(), p.runner.meanStepMillis()));
        }
        String summary = b.toString();
        if (!summary.equals(lastRoutingSummary)) {
            lastRoutingSummary = summary;
            log.println(summary);
            log.flush();
        }
    }

    /** Every frame a last stage sends back goes to the runners; only the runner that sent its step takes it. */
    private void deliverToRunners(StepFrame frame) {
        for (ServingPipeline p : pipelines) {
            p.runner.deliver(frame);
        }
    }

    /** A node's report of its loading progress (it also says when it is ready). */
    private void onProgress(PeerId peer, ClusterMessages.Progress progress) {
        // Arrives while the control thread waits for the stages to load, so it reads the published member list.
        for (Member m : memberView) {
            if (m.peer.equals(peer) && progress.epoch() == epoch && "loading".equals(m.state)) {
                double before = m.loadProgress;
                m.loadProgress = Math.clamp(progress.fraction(), 0.0, 1.0);
                if ((int) (before * 4) != (int) (m.loadProgress * 4)) {
                    log.printf(Locale.ROOT, "node %s loading: %.0f%%%n", shortId(peer), 100 * m.loadProgress);
                    log.flush();
                }
            }
        }
    }

    /** The allocation in force, or null while none serves. */
    public Allocation allocation() {
        return current;
    }

    /** One pipeline's figures, as the status API reads them. */
    public record PipelineFigures(int index, List<String> nodes, boolean owner, boolean active, int inFlight,
                                 long requests, double meanStepMillis, long generatedTokens) {
    }

    /** Each engine and the pipeline carrying it, by index. */
    public List<PipelineFigures> pipelineFigures() {
        List<PipelineFigures> out = new ArrayList<>();
        for (ServingPipeline p : pipelines) {
            out.add(new PipelineFigures(p.index, p.nodes(), p.owner(), p.runner.isActive(), p.inFlight(),
                    p.requests(), p.runner.meanStepMillis(), p.engine.stats().generatedTokens()));
        }
        return out;
    }

    /** A node as the status API reads it. */
    public record MemberFigures(String peerId, String state, long memoryBytes, double speed, double rttMillis,
                                double loadProgress) {
    }

    /** The nodes of the cluster, in the order they joined. Reads a copy made on the control thread. */
    public List<MemberFigures> memberFigures() {
        return memberView.stream().map(m -> new MemberFigures(m.peer.toString(), m.state, m.profile.memoryBytes(),
                m.profile.speed(), m.rttMillis, m.loadProgress)).toList();
    }

    /** Publishes the members for readers off the control thread; called after every change of {@code members}. */
    private void membersChanged() {
        memberView = List.copyOf(members.values());
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
            deliverToRunners(frame);
        }
    }

    /**
     * Closes the streams to the last allocation's first stages but those of the {@code kept} pipelines, so
     * re-allocations do not pile streams up.
     */
    private void closeEntryLinks(Set<Integer> kept) {
        for (var it = entryLinks.entrySet().iterator(); it.hasNext(); ) {
            var link = it.next();
            if (!kept.contains(link.getKey())) {
                link.getValue().close();
                it.remove();
            }
        }
    }

    static String shortId(PeerId peer) {
        String s = peer.toString();
        return s.length() > 12 ? "…" + s.substring(s.length() - 8) : s;
    }

    // ---- Read-only view for the dashboard (ai.parallax.server.dashboard.ClusterSchedulerView) ----

    /** The cluster as it is now; safe to call from any thread, never blocks on the control thread. */
    public ClusterSnapshot snapshot() {
        List<ClusterSnapshot.Member> list = memberView.stream().map(m -> new ClusterSnapshot.Member(m.peer.toString(),
                m.name != null ? m.name : shortId(m.peer), node != null && m.peer.equals(node.peerId()), m.state,
                m.profile.memoryBytes(), m.profile.speed(), m.bandwidth, m.joinedMillis,
                m.heartbeatMillis == 0 ? null : m.rttMillis, m.heartbeatMillis, m.loadProgress)).toList();
        Allocation allocation = current != null ? current : pending;
        List<EngineStats> engines = new ArrayList<>();
        for (ServingPipeline p : pipelines) {
            if (p.index == engines.size() && (allocation == null || p.index < allocation.pipelines().size())) {
                engines.add(p.engine.stats());
            }
        }
        boolean serving = current != null && pipelines.stream().anyMatch(p -> p.runner.isActive());
        return new ClusterSnapshot(modelName(), config.numLayers(), node.peerId().toString(), joinCommand(),
                options.minNodes(), lastWaitMessage, epoch, allocation, serving, footprint, engines, list,
                events.list());
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
        for (ServingPipeline p : pipelines) {
            p.close();
        }
        closeEntryLinks(Set.of());
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

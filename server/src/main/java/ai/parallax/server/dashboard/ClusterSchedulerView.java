package ai.parallax.server.dashboard;

import ai.parallax.models.LayerRange;
import ai.parallax.runtime.engine.EngineStats;
import ai.parallax.server.cluster.ClusterEventLog;
import ai.parallax.server.cluster.ClusterSnapshot;
import ai.parallax.server.scheduler.Allocation;
import ai.parallax.server.scheduler.ModelFootprint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The dashboard's view of the cluster scheduler ({@code serve -n} + {@code join}): it reads
 * {@link ClusterSnapshot}s, samples the engine's counters once a second into rates and a five-minute history, and
 * remembers nodes that left for a minute so the pages can show them going.
 *
 * <p>Per-node figures and where they come from: every stage of the served pipeline runs every step, so a stage's
 * tokens/s, step latency, running sequences and KV blocks are the pipeline's (the engine's block table is mirrored
 * on each stage); a remote node's memory is what its stage holds (its layers with their KV reserve, plus the
 * embedding or head), because remote nodes do not report their resident set; the link RTT is the scheduler's last
 * heartbeat to the node.
 */
public final class ClusterSchedulerView implements ClusterView {
    private static final Logger LOG = Logger.getLogger(ClusterSchedulerView.class.getName());
    private static final long TICK_MILLIS = 100;
    private static final int TICKS_PER_SAMPLE = 10;
    private static final int HISTORY_SAMPLES = 300 * 8;
    /** How long a node that left stays on the pages, marked {@code left}. */
    private static final long LEFT_SHOWN_MILLIS = 60_000;

    private final Supplier<ClusterSnapshot> snapshots;
    private final ClusterModels.ModelInfo modelInfo;
    private final Path modelsDir;
    private final ClusterSizing sizing;
    private final String network;
    private final int nodesExpected;
    private final String joinNote;
    private final List<ClusterStatus.Event> setupEvents;
    private final ScheduledExecutorService sampler;
    /** Rates per pipeline index: each pipeline has an engine of its own. */
    private final Map<Integer, EngineRates> rates = new HashMap<>();
    private final SampleHistory history = new SampleHistory(HISTORY_SAMPLES);
    /** Nodes seen in the last sample, and nodes gone since, with when they went. */
    private final Map<String, ClusterSnapshot.Member> seen = new LinkedHashMap<>();
    private final Map<String, Departed> departed = new LinkedHashMap<>();
    private final Map<Integer, EngineRates.Rates> latest = new HashMap<>();
    private int ticks;

    private record Departed(ClusterSnapshot.Member member, long leftMillis) {
    }

    /**
     * @param snapshots     the scheduler's {@code snapshot()}
     * @param modelInfo     the served model, as the setup page describes it
     * @param modelsDir     the folder the setup page lists, or null for the served model alone
     * @param sizing        how the scheduler sizes models, for the setup page's estimates
     * @param network       {@code lan} or {@code public}, as chosen at setup
     * @param nodesExpected how many nodes setup asked for
     * @param joinNote      the hint shown under the join command, or null
     * @param setupEvents   events from before the scheduler started (the setup), shown first
     */
    public ClusterSchedulerView(Supplier<ClusterSnapshot> snapshots, ClusterModels.ModelInfo modelInfo,
                                Path modelsDir, ClusterSizing sizing, String network, int nodesExpected,
                                String joinNote,
                                List<ClusterStatus.Event> setupEvents) {
        this.snapshots = Objects.requireNonNull(snapshots, "snapshots");
        this.modelInfo = Objects.requireNonNull(modelInfo, "modelInfo");
        this.modelsDir = modelsDir;
        this.sizing = Objects.requireNonNull(sizing, "sizing");
        this.network = network;
        this.nodesExpected = nodesExpected;
        this.joinNote = joinNote;
        this.setupEvents = List.copyOf(setupEvents);
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "parallax-dashboard-cluster-sampler");
            t.setDaemon(true);
            return t;
        });
        sampler.scheduleAtFixedRate(this::tick, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
    }

    @Override
    public ClusterStatus status() {
        ClusterSnapshot snap = snapshots.get();
        Map<Integer, EngineRates.Rates> r;
        List<ClusterSnapshot.Member> gone = new ArrayList<>();
        synchronized (this) {
            r = Map.copyOf(latest);
            departed.values().forEach(d -> gone.add(d.member()));
            // Nodes gone since the last sample show as left at once.
            for (ClusterSnapshot.Member m : seen.values()) {
                if (snap.members().stream().noneMatch(x -> x.peerId().equals(m.peerId()))
                        && !departed.containsKey(m.peerId())) {
                    gone.add(m);
                }
            }
        }
        return toStatus(snap, r, gone, System.currentTimeMillis());
    }

    /** The status for one snapshot: a pure mapping, so tests can feed it made-up snapshots. */
    ClusterStatus toStatus(ClusterSnapshot snap, Map<Integer, EngineRates.Rates> r,
                           List<ClusterSnapshot.Member> left, long nowMillis) {
        Allocation allocation = snap.allocation();
        String state;
        String message;
        if (snap.serving()) {
            state = "ready";
            message = String.format(Locale.ROOT, "serving %s on %d node%s in %d pipeline%s", snap.model(),
                    allocation.activeNodes().size(), allocation.activeNodes().size() == 1 ? "" : "s",
                    allocation.pipelines().size(), allocation.pipelines().size() == 1 ? "" : "s");
        } else if (snap.waiting() != null || allocation == null) {
            state = "waiting";
            message = snap.waiting() != null ? snap.waiting() : snap.members().isEmpty()
                    ? "waiting for the first node to join" : "waiting for nodes";
        } else {
            state = "loading";
            message = "allocation " + snap.epoch() + ": the nodes are loading their layers";
        }
        boolean showAllocation = allocation != null && snap.waiting() == null;

        Map<String, Integer> sameName = new HashMap<>();
        for (ClusterSnapshot.Member m : snap.members()) {
            sameName.merge(m.name(), 1, Integer::sum);
        }
        List<ClusterStatus.Node> nodes = new ArrayList<>();
        for (ClusterSnapshot.Member m : snap.members()) {
            nodes.add(node(snap, m, showAllocation ? allocation : null, r, sameName.get(m.name()) > 1, false));
        }
        for (ClusterSnapshot.Member m : left) {
            nodes.add(node(snap, m, null, null, true, true));
        }

        List<ClusterStatus.Pipeline> pipelines = new ArrayList<>();
        if (showAllocation) {
            for (int i = 0; i < allocation.pipelines().size(); i++) {
                Allocation.Pipeline p = allocation.pipelines().get(i);
                boolean ready = snap.serving() && p.stages().stream().allMatch(s -> "ready".equals(
                        stateOf(snap, s.nodeId())));
                pipelines.add(new ClusterStatus.Pipeline(i, ready, p.stages().stream().map(s ->
                        new ClusterStatus.Stage(s.nodeId(), s.layers().start(), s.layers().end())).toList()));
            }
        }

        List<ClusterStatus.Event> events = new ArrayList<>(setupEvents);
        for (ClusterEventLog.Event e : snap.events()) {
            events.add(new ClusterStatus.Event(e.timeMillis(), e.kind(), e.message()));
        }
        ClusterStatus.ModelRef model = new ClusterStatus.ModelRef(snap.model(), modelInfo.architecture(),
                snap.layers(), modelInfo.parameters(), modelInfo.dtype());
        ClusterStatus.JoinInfo join = new ClusterStatus.JoinInfo(snap.joinCommand(), true, joinNote);
        int expected = Math.max(nodesExpected, snap.minNodes());
        return new ClusterStatus(state, message, model, network, Math.max(1, expected), join, nodes, pipelines,
                events, nowMillis);
    }

    private static String stateOf(ClusterSnapshot snap, String peer) {
        return snap.members().stream().filter(m -> m.peerId().equals(peer)).map(ClusterSnapshot.Member::state)
                .findFirst().orElse("left");
    }

    private ClusterStatus.Node node(ClusterSnapshot snap, ClusterSnapshot.Member m, Allocation allocation,
                                    Map<Integer, EngineRates.Rates> rates, boolean sameNameAsAnother, boolean left) {
        String name = sameNameAsAnother ? m.name() + " · " + tail(m.peerId()) : m.name();
        // "joined": registered, no layers assigned yet.
        String state = left ? "left" : "joined".equals(m.state()) ? "waiting" : m.state();
        if (allocation == null && !left) {
            // No allocation stands (the cluster waits for nodes): whatever a node held before, it serves nothing now.
            state = "waiting";
        }
        ClusterStatus.Hardware hardware = m.local()
                ? new ClusterStatus.Hardware(LocalMachine.cpuName(), Runtime.getRuntime().availableProcessors(), null,
                LocalMachine.totalMemory(), LocalMachine.freeMemory(), m.memoryBytes(), m.bandwidthGBs(), m.gflops())
                : new ClusterStatus.Hardware(null, null, null, null, null, m.memoryBytes(), m.bandwidthGBs(),
                m.gflops());
        ClusterStatus.LayerSpan span = null;
        int pipeline = -1;
        boolean first = false;
        boolean last = false;
        if (allocation != null) {
            for (int i = 0; i < allocation.pipelines().size() && span == null; i++) {
                List<Allocation.Stage> stages = allocation.pipelines().get(i).stages();
                for (int s = 0; s < stages.size(); s++) {
                    if (stages.get(s).nodeId().equals(m.peerId())) {
                        LayerRange range = stages.get(s).layers();
                        span = new ClusterStatus.LayerSpan(range.start(), range.end(), range.total());
                        pipeline = i;
                        first = s == 0;
                        last = s == stages.size() - 1;
                    }
                }
            }
        }
        double progress = "ready".equals(state) ? 1 : "loading".equals(state) ? m.loadProgress() : 0;
        // Every stage of a pipeline runs every step of the pipeline's engine, so it shares that engine's figures.
        boolean stepping = snap.serving() && pipeline >= 0 && pipeline < snap.engines().size()
                && "ready".equals(state);
        EngineStats e = stepping ? snap.engines().get(pipeline) : null;
        EngineRates.Rates r = stepping && rates != null ? rates.get(pipeline) : null;
        long memory = m.local() ? LocalMachine.residentBytes() : span == null ? 0
                : stageBytes(snap.footprint(), span.end() - span.start(), first, last);
        ClusterStatus.NodeMetrics metrics = new ClusterStatus.NodeMetrics(
                stepping && r != null ? r.tokensPerSecond() : null, stepping && r != null ? r.stepLatencyMs() : null,
                memory, stepping && e != null ? e.kvBlocksUsed() : 0, span != null && e != null ? e.kvBlocksTotal() : 0,
                stepping && e != null ? e.running() : 0, stepping && e != null ? e.waiting() : 0,
                stepping && e != null ? e.generatedTokens() : 0, stepping && e != null ? e.steps() : 0);
        List<ClusterStatus.Link> links = m.rttMillis() == null || m.local() ? List.of()
                : List.of(new ClusterStatus.Link("scheduler", m.rttMillis()));
        return new ClusterStatus.Node(m.peerId(), name, m.local() ? "scheduler+worker" : "worker", state, hardware,
                span, pipeline, progress, metrics, links);
    }

    /** The memory a stage of {@code layers} layers holds: the layers with their KV reserve, plus embedding or head. */
    static long stageBytes(ModelFootprint f, int layers, boolean first, boolean last) {
        if (f == null) {
            return 0;
        }
        return layers * f.bytesPerLayer() + (first ? f.embeddingBytes() : 0) + (last ? f.headBytes() : 0);
    }

    private static String tail(String peer) {
        return peer.length() > 6 ? "…" + peer.substring(peer.length() - 6) : peer;
    }

    @Override
    public ClusterModels models() {
        List<ClusterModels.ModelInfo> list;
        if (modelsDir == null) {
            list = List.of(modelInfo);
        } else {
            list = new ArrayList<>(ModelCatalog.scan(modelsDir));
            if (list.stream().noneMatch(m -> m.path().equals(modelInfo.path()))) {
                list.addFirst(modelInfo);
            }
        }
        // Once nodes have joined, what they offer is a better guess per node than this machine's memory.
        List<ClusterSnapshot.Member> members = snapshots.get().members();
        long perNode = members.isEmpty() ? sizing.memoryPerNode()
                : (long) members.stream().mapToLong(ClusterSnapshot.Member::memoryBytes).average().orElse(0);
        return new ClusterModels(modelsDir == null ? null : modelsDir.toString(), modelInfo.id(), perNode,
                list.stream().map(sizing::estimate).toList());
    }

    /** The scheduler already serves a model: setup may only confirm it. */
    @Override
    public ClusterStatus setup(SetupRequest request) {
        SetupChoice choice = SetupChoice.validate(request);
        if (!choice.model().equals(modelInfo.id())) {
            throw new SetupRefusedException(409, "this cluster already serves " + modelInfo.id() + "; to serve "
                    + choice.model() + ", restart 'parallax serve' with --models-dir and choose it at setup, or "
                    + "with -m " + (modelsDir != null ? modelsDir.resolve(choice.model()) : choice.model()));
        }
        return status();
    }

    @Override
    public List<NodeSample> history(long sinceMillis) {
        return history.since(sinceMillis);
    }

    private void tick() {
        try {
            sample();
        } catch (RuntimeException e) {
            // A scheduled task that throws is never run again; log it and keep sampling.
            LOG.log(Level.WARNING, "dashboard sampling failed", e);
        }
    }

    private void sample() {
        ClusterSnapshot snap = snapshots.get();
        long now = System.nanoTime();
        synchronized (this) {
            for (int p = 0; p < snap.engines().size(); p++) {
                rates.computeIfAbsent(p, i -> new EngineRates()).tick(snap.engines().get(p), now);
            }
            if (++ticks % TICKS_PER_SAMPLE != 0) {
                return;
            }
            for (Map.Entry<Integer, EngineRates> entry : rates.entrySet()) {
                EngineRates.Rates r = entry.getValue().sample();
                if (r != null) {
                    latest.put(entry.getKey(), r);
                }
            }
            long millis = System.currentTimeMillis();
            Map<String, ClusterSnapshot.Member> current = new LinkedHashMap<>();
            for (ClusterSnapshot.Member m : snap.members()) {
                current.put(m.peerId(), m);
                departed.remove(m.peerId());
            }
            for (ClusterSnapshot.Member m : seen.values()) {
                if (!current.containsKey(m.peerId())) {
                    departed.put(m.peerId(), new Departed(m, millis));
                }
            }
            departed.values().removeIf(d -> millis - d.leftMillis() > LEFT_SHOWN_MILLIS);
            seen.clear();
            seen.putAll(current);

            ClusterStatus status = toStatus(snap, latest, List.of(), millis);
            for (ClusterStatus.Node n : status.nodes()) {
                ClusterStatus.NodeMetrics m = n.metrics();
                double kv = m.kvBlocksTotal() == 0 ? 0 : (double) m.kvBlocksUsed() / m.kvBlocksTotal();
                history.add(new NodeSample(millis, n.id(), m.tokensPerSecond(), m.stepLatencyMs(),
                        m.memoryUsedBytes(), kv));
            }
        }
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}

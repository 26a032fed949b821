package ai.parallax.server.dashboard;

import ai.parallax.runtime.engine.EngineStats;
import ai.parallax.server.api.ServedModel;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The dashboard's view of {@code parallax serve} on one machine: one node that holds every layer, in one pipeline.
 * Figures come from the engine's counters, sampled once a second into a five-minute history for the charts. Setup
 * is accepted for the model already being served on one node; anything else needs the cluster scheduler, and the
 * refusal says so.
 */
public final class SingleNodeClusterView implements ClusterView {
    static final String NODE_ID = "local";
    private static final Logger LOG = Logger.getLogger(SingleNodeClusterView.class.getName());
    /** The engine is looked at this often, to tell busy time from idle time. */
    private static final long TICK_MILLIS = 100;
    /** Ticks per published sample (one a second). */
    private static final int TICKS_PER_SAMPLE = 10;
    private static final int HISTORY_SAMPLES = 300;
    private static final int MAX_EVENTS = 200;

    private final Path modelDir;
    private final Path modelsDir;
    private final Supplier<ServedModel> served;
    private final int port;
    private final String hostName;
    private final ClusterModels.ModelInfo modelInfo;
    private final ScheduledExecutorService sampler;
    private final SampleHistory history = new SampleHistory(HISTORY_SAMPLES);
    private final ArrayDeque<ClusterStatus.Event> events = new ArrayDeque<>();

    private volatile double loadProgress;
    private volatile String failure;
    private volatile String network = "lan";
    private boolean announcedReady;
    private final EngineRates rates = new EngineRates();
    private int ticks;
    private ClusterStatus.NodeMetrics latest;

    /**
     * @param modelDir  the model being served
     * @param modelsDir the folder the setup page lists, or null to list only {@code modelDir}
     * @param served    the served model once loaded, null before
     * @param port      the HTTP port, for the join hint
     */
    public SingleNodeClusterView(Path modelDir, Path modelsDir, Supplier<ServedModel> served, int port) {
        this.modelDir = Objects.requireNonNull(modelDir, "modelDir");
        this.modelsDir = modelsDir;
        this.served = Objects.requireNonNull(served, "served");
        this.port = port;
        this.hostName = LocalMachine.hostName();
        this.modelInfo = ModelCatalog.describe(modelDir);
        event("info", "scheduler started on " + hostName + ", serving " + modelInfo.id() + " on this node alone");
        event("join", "node " + hostName + " (" + NODE_ID + ") joined: " + Runtime.getRuntime().availableProcessors()
                + " cores, " + gib(LocalMachine.totalMemory()) + " memory");
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "parallax-dashboard-sampler");
            t.setDaemon(true);
            return t;
        });
        sampler.scheduleAtFixedRate(this::tick, TICK_MILLIS, TICK_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Weight loading progress, to pass as the model loader's {@code LoadProgress}. */
    public void loadProgress(long bytesDone, long bytesTotal) {
        if (loadProgress == 0 && bytesDone > 0) {
            event("info", "loading " + modelInfo.id() + " (" + gib(bytesTotal) + ")");
        }
        loadProgress = bytesTotal <= 0 ? 1 : Math.min(1, (double) bytesDone / bytesTotal);
    }

    /** Marks the node failed, for a load that threw; the message is shown on the dashboard. */
    public void failed(String message) {
        failure = message;
        event("failure", message);
    }

    @Override
    public ClusterStatus status() {
        ServedModel model = served.get();
        String state;
        String message;
        if (failure != null) {
            state = "failed";
            message = failure;
        } else if (model == null) {
            state = "loading";
            message = String.format(Locale.ROOT, "loading %s: %.0f%%", modelInfo.id(), loadProgress * 100);
        } else {
            state = "ready";
            message = "serving " + model.id() + " on one node";
            announceReady();
        }
        int layers = modelInfo.numLayers();
        String nodeState = failure != null ? "failed" : model == null ? "loading" : "ready";
        ClusterStatus.NodeMetrics rates;
        synchronized (this) {
            rates = latest;
        }
        // Counts are read now; rates come from the last one-second sample.
        EngineStats now = model != null ? model.engine().stats() : null;
        ClusterStatus.NodeMetrics metrics = new ClusterStatus.NodeMetrics(
                rates != null ? rates.tokensPerSecond() : null, rates != null ? rates.stepLatencyMs() : null,
                rates != null ? rates.memoryUsedBytes() : LocalMachine.residentBytes(),
                now != null ? now.kvBlocksUsed() : 0, now != null ? now.kvBlocksTotal() : 0,
                now != null ? now.running() : 0, now != null ? now.waiting() : 0,
                now != null ? now.generatedTokens() : 0, now != null ? now.steps() : 0);
        ClusterStatus.Node node = new ClusterStatus.Node(NODE_ID, hostName, "scheduler+worker", nodeState,
                hardware(), new ClusterStatus.LayerSpan(0, layers, layers), 0, model != null ? 1 : loadProgress,
                metrics, List.of());
        ClusterStatus.Pipeline pipeline = new ClusterStatus.Pipeline(0, model != null,
                List.of(new ClusterStatus.Stage(NODE_ID, 0, layers)));
        ClusterStatus.ModelRef ref = new ClusterStatus.ModelRef(model != null ? model.id() : modelInfo.id(),
                modelInfo.architecture(), layers, modelInfo.parameters(), modelInfo.dtype());
        ClusterStatus.JoinInfo join = new ClusterStatus.JoinInfo("parallax join -s " + hostName + ":" + port, false,
                "This server runs on one machine. Start it with 'parallax serve -n <nodes>' to let other machines "
                        + "join with this command.");
        List<ClusterStatus.Event> eventList;
        synchronized (events) {
            eventList = List.copyOf(events);
        }
        return new ClusterStatus(state, message, ref, network, 1, join, List.of(node), List.of(pipeline), eventList,
                System.currentTimeMillis());
    }

    private void announceReady() {
        synchronized (events) {
            if (announcedReady) {
                return;
            }
            announcedReady = true;
        }
        int layers = modelInfo.numLayers();
        event("allocation", "pipeline 0: layers 0-" + (layers - 1) + " on " + hostName);
        event("info", "cluster ready: 1 pipeline, 1 node");
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
        return new ClusterModels(modelsDir == null ? null : modelsDir.toString(), modelInfo.id(),
                LocalMachine.freeMemory(), list);
    }

    @Override
    public ClusterStatus setup(SetupRequest request) {
        if (request.model() == null || request.model().isBlank()) {
            throw new SetupRefusedException(400, "setup needs a model: one of the ids GET /cluster/models lists");
        }
        int nodes = request.nodes() == null ? 1 : request.nodes();
        if (nodes < 1) {
            throw new SetupRefusedException(400, "nodes must be at least 1, got " + nodes);
        }
        String net = request.network() == null ? "lan" : request.network();
        if (!net.equals("lan") && !net.equals("public")) {
            throw new SetupRefusedException(400, "network must be \"lan\" or \"public\", got \"" + net + "\"");
        }
        boolean known = models().models().stream().anyMatch(m -> m.id().equals(request.model()));
        if (!known) {
            throw new SetupRefusedException(404, "no model \"" + request.model() + "\" in "
                    + (modelsDir != null ? modelsDir : modelDir.getParent()));
        }
        if (!request.model().equals(modelInfo.id())) {
            throw new SetupRefusedException(409, "this server was started with " + modelInfo.id()
                    + " and serves it alone; to serve " + request.model() + ", restart with 'parallax serve -m "
                    + (modelsDir != null ? modelsDir.resolve(request.model()) : request.model()) + "'");
        }
        if (nodes > 1) {
            throw new SetupRefusedException(409, "this server runs on one machine and cannot wait for " + nodes
                    + " nodes; restart it with 'parallax serve -n " + nodes + "'");
        }
        network = net;
        event("info", "setup: " + request.model() + " on 1 node, " + (net.equals("lan") ? "LAN" : "public network"));
        return status();
    }

    @Override
    public List<NodeSample> history(long sinceMillis) {
        return history.since(sinceMillis);
    }

    /**
     * Looks at the engine ({@link EngineRates} tells busy time from idle time) and publishes a sample every
     * {@link #TICKS_PER_SAMPLE} ticks.
     */
    private void tick() {
        try {
            sampleEngine();
        } catch (RuntimeException e) {
            // A scheduled task that throws is never run again; log it and keep sampling.
            LOG.log(Level.WARNING, "dashboard sampling failed", e);
        }
    }

    private void sampleEngine() {
        ServedModel model = served.get();
        long now = System.nanoTime();
        if (model == null) {
            if (++ticks % TICKS_PER_SAMPLE == 0) {
                history.add(new NodeSample(System.currentTimeMillis(), NODE_ID, null, null,
                        LocalMachine.residentBytes(), 0));
            }
            return;
        }
        EngineStats stats = model.engine().stats();
        synchronized (this) {
            rates.tick(stats, now);
            if (++ticks % TICKS_PER_SAMPLE != 0) {
                return;
            }
            EngineRates.Rates r = rates.sample();
            if (r == null) {
                return;
            }
            long rss = LocalMachine.residentBytes();
            latest = new ClusterStatus.NodeMetrics(r.tokensPerSecond(), r.stepLatencyMs(), rss, stats.kvBlocksUsed(),
                    stats.kvBlocksTotal(), stats.running(), stats.waiting(), stats.generatedTokens(), stats.steps());
            double kv = stats.kvBlocksTotal() == 0 ? 0 : (double) stats.kvBlocksUsed() / stats.kvBlocksTotal();
            history.add(new NodeSample(System.currentTimeMillis(), NODE_ID, r.tokensPerSecond(), r.stepLatencyMs(), rss,
                    kv));
        }
    }

    private void event(String kind, String message) {
        synchronized (events) {
            if (events.size() == MAX_EVENTS) {
                events.removeFirst();
            }
            events.addLast(new ClusterStatus.Event(System.currentTimeMillis(), kind, message));
        }
    }

    private static ClusterStatus.Hardware hardware() {
        return new ClusterStatus.Hardware(LocalMachine.cpuName(), Runtime.getRuntime().availableProcessors(), null,
                LocalMachine.totalMemory(), LocalMachine.freeMemory(), null, null, null);
    }

    private static String gib(long bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}

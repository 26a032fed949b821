package ai.parallax.server.cluster;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.server.cluster.ClusterMessages.Assignment;
import ai.parallax.server.cluster.ClusterMessages.AssignmentReply;
import ai.parallax.tensors.ops.Ops;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The stage a node serves, through re-allocations: loads the layers it is assigned (only their tensors are mapped),
 * links to the next hop, and runs the steps that arrive. Used by {@code join} and by a scheduler that serves layers
 * itself.
 */
public final class StageHost implements AutoCloseable {
    private final P2pNode node;
    private final Ops ops;
    private final Path modelDir;
    private final PeerId scheduler;
    /** For a scheduler's own stage: where the last stage's output goes without the network; null elsewhere. */
    private final Consumer<StepFrame> localScheduler;
    private final PrintWriter log;
    private volatile StageWorker worker;
    /** The layers loaded, kept across re-allocations that give this node the same range again. */
    private CausalLanguageModel loaded;
    private int loadedPositions;
    private volatile ActivationLink nextLink;
    private volatile PeerId previous;
    private volatile ProgressListener progress = (epoch, fraction) -> { };

    /** Hears how far the loading of a stage has come. Called on the loading thread; must not block. */
    @FunctionalInterface
    public interface ProgressListener {
        void loaded(long epoch, double fraction);
    }

    public StageHost(P2pNode node, Ops ops, Path modelDir, PeerId scheduler, Consumer<StepFrame> localScheduler,
                     PrintWriter log) {
        this.node = node;
        this.ops = ops;
        this.modelDir = modelDir;
        this.scheduler = scheduler;
        this.localScheduler = localScheduler;
        this.log = log;
    }

    /** Where loading progress goes (the scheduler, for its status). */
    public void onProgress(ProgressListener listener) {
        this.progress = listener;
    }

    public StageWorker worker() {
        return worker;
    }

    /** Who may send this stage steps: the previous stage, or the scheduler for the first stage. */
    public PeerId previousPeer() {
        return previous;
    }

    /**
     * Loads (or releases) a stage. Blocks while the weights load; when this node already holds exactly the layers
     * assigned, they are kept and only the KV pool and the links are made anew.
     */
    public synchronized AssignmentReply apply(Assignment a) {
        release();
        if (loaded != null && (a.isRelease() || !sameLayers(loaded.layers(), a) || loadedPositions != a.maxPositions())) {
            loaded.close();
            loaded = null;
        }
        if (a.isRelease()) {
            log.printf(Locale.ROOT, "allocation %d: standby (no layers)%n", a.epoch());
            log.flush();
            return new AssignmentReply(true, null, 0);
        }
        long start = System.nanoTime();
        try {
            ModelConfig config = ModelConfig.read(modelDir);
            if (config.numLayers() != a.total()) {
                return new AssignmentReply(false, modelDir + " has " + config.numLayers()
                        + " layers but the cluster's model " + a.model() + " has " + a.total(), 0);
            }
            LayerRange range = new LayerRange(a.start(), a.end(), a.total());
            boolean reused = loaded != null;
            CausalLanguageModel model = reused ? loaded : load(config, range, a);
            if (reused) {
                progress.loaded(a.epoch(), 1.0);
            }
            loaded = model;
            loadedPositions = a.maxPositions();
            StageWorker w = new StageWorker(model, ops, a.blockCount(), a.blockSize(), a.sequenceSlots(),
                    StepFrame.Payload.activation(a.activation()), a.epoch());
            previous = a.previousPeer() == null ? scheduler : PeerId.parse(a.previousPeer());
            if (a.nextAddress() == null) {
                if (localScheduler != null) {
                    w.next(localScheduler);
                } else {
                    ActivationLink link = ActivationLink.open(node, scheduler, (p, f) -> { }, Duration.ofSeconds(10));
                    nextLink = link;
                    w.next(link::send);
                }
            } else {
                Multiaddr address = Multiaddr.parse(a.nextAddress());
                PeerId peer = node.dial(address).get(10, TimeUnit.SECONDS).remotePeer();
                ActivationLink link = ActivationLink.open(node, peer, (p, f) -> { }, Duration.ofSeconds(10));
                nextLink = link;
                w.next(link::send);
            }
            worker = w;
            long millis = (System.nanoTime() - start) / 1_000_000;
            log.printf(Locale.ROOT, "allocation %d: ready with layers [%d, %d) of %d (%.1f MiB of weights, %s, %d ms)%n",
                    a.epoch(), a.start(), a.end(), a.total(), model.weightBytes() / 1048576.0,
                    reused ? "kept from the last allocation" : "loaded", millis);
            log.flush();
            return new AssignmentReply(true, null, millis);
        } catch (Exception e) {
            release();
            if (loaded != null) {
                loaded.close();
                loaded = null;
            }
            return new AssignmentReply(false, "loading layers [" + a.start() + ", " + a.end() + ") failed: " + e, 0);
        }
    }

    private static boolean sameLayers(LayerRange range, Assignment a) {
        return range.start() == a.start() && range.end() == a.end() && range.total() == a.total();
    }

    /** Maps the assigned layers' tensors, reporting progress to the log and the scheduler. */
    private CausalLanguageModel load(ModelConfig config, LayerRange range, Assignment a) {
        long[] lastPercent = {-1};
        long[] lastReported = {-1};
        progress.loaded(a.epoch(), 0);
        return ModelLoader.load(modelDir, config, ops, range, a.maxPositions(),
                (done, total) -> {
                    long percent = total == 0 ? 100 : done * 100 / total;
                    if (percent / 10 != lastReported[0] / 10) {
                        lastReported[0] = percent;
                        progress.loaded(a.epoch(), total == 0 ? 1.0 : (double) done / total);
                    }
                    if (percent / 25 != lastPercent[0] / 25 || done == total) {
                        lastPercent[0] = percent;
                        log.printf(Locale.ROOT, "loading layers [%d, %d) of %d: %d%% of %.1f MiB%n", a.start(),
                                a.end(), a.total(), percent, total / 1048576.0);
                        log.flush();
                    }
                });
    }

    /**
     * Stops serving (the scheduler is gone) but keeps the layers loaded: if the scheduler comes back and assigns
     * the same range, nothing is read again.
     */
    public synchronized void suspend() {
        release();
    }

    /** A step (or a failure notice) from the previous hop. */
    public void onInbound(PeerId from, StepFrame frame) {
        StageWorker w = worker;
        if (w != null && (from == null || from.equals(previous))) {
            w.submit(frame);
        }
    }

    private void release() {
        StageWorker w = worker;
        worker = null;
        if (w != null && !w.stop() && loaded != null) {
            loaded.close(); // a step overran the stop: never hand these layers to a new worker
            loaded = null;
        }
        ActivationLink l = nextLink;
        nextLink = null;
        if (l != null) {
            l.close();
        }
    }

    @Override
    public synchronized void close() {
        release();
        if (loaded != null) {
            loaded.close();
            loaded = null;
        }
    }
}

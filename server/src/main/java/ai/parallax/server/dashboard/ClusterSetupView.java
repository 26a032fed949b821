package ai.parallax.server.dashboard;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * {@code serve --models-dir} before a model is chosen: the setup page lists the folder's models, and its choice
 * starts the cluster scheduler for that model and node count ({@code starter}); from then on every call goes to the
 * view the starter returns. The scheduler allocates layers for one model, so the choice has to come before it
 * starts, not after.
 */
public final class ClusterSetupView implements ClusterView {
    private static final Logger LOG = Logger.getLogger(ClusterSetupView.class.getName());

    /** Starts the scheduler for a choice; gets the events so far, returns the view of the running cluster. */
    public interface Starter extends BiFunction<SetupChoice, List<ClusterStatus.Event>, ClusterView> {
    }

    private final Path modelsDir;
    private final ClusterSizing sizing;
    private final Starter starter;
    private final List<ClusterStatus.Event> events = new ArrayList<>();
    private volatile ClusterView started;
    private volatile SetupChoice starting;
    private volatile ClusterStatus.ModelRef startingModel;
    private volatile String failure;

    public ClusterSetupView(Path modelsDir, ClusterSizing sizing, Starter starter) {
        this.modelsDir = Objects.requireNonNull(modelsDir, "modelsDir");
        this.sizing = Objects.requireNonNull(sizing, "sizing");
        this.starter = Objects.requireNonNull(starter, "starter");
        event("info", "scheduler started; choose a model from " + modelsDir + " on the setup page");
    }

    @Override
    public ClusterStatus status() {
        ClusterView view = started;
        if (view != null) {
            return view.status();
        }
        SetupChoice choice = starting;
        String state = failure != null ? "failed" : choice != null ? "loading" : "setup";
        String message = failure != null ? failure : choice != null ? "starting the scheduler for " + choice.model()
                : "choose a model on the setup page";
        ClusterStatus.ModelRef model = choice != null ? startingModel : null;
        ClusterStatus.JoinInfo join = new ClusterStatus.JoinInfo(null, false,
                "The join command appears once a model is chosen on the setup page.");
        List<ClusterStatus.Event> copy;
        synchronized (events) {
            copy = List.copyOf(events);
        }
        return new ClusterStatus(state, message, model, choice != null ? choice.network() : "lan",
                choice != null ? choice.nodes() : 1, join, List.of(), List.of(), copy, System.currentTimeMillis());
    }

    @Override
    public ClusterModels models() {
        ClusterView view = started;
        if (view != null) {
            return view.models();
        }
        return new ClusterModels(modelsDir.toString(), null, sizing.memoryPerNode(),
                ModelCatalog.scan(modelsDir).stream().map(sizing::estimate).toList());
    }

    @Override
    public ClusterStatus setup(SetupRequest request) {
        ClusterView view = started;
        if (view != null) {
            return view.setup(request);
        }
        SetupChoice choice = SetupChoice.validate(request);
        ClusterModels.ModelInfo info = ModelCatalog.scan(modelsDir).stream()
                .filter(m -> m.id().equals(choice.model())).findFirst()
                .orElseThrow(() -> new SetupRefusedException(404, "no model \"" + choice.model() + "\" in "
                        + modelsDir));
        if (info.problem() != null) {
            throw new SetupRefusedException(409, info.id() + " cannot be served: " + info.problem());
        }
        synchronized (this) {
            if (starting != null && failure == null) {
                throw new SetupRefusedException(409, "setup is under way for " + starting.model()
                        + "; wait for it to finish");
            }
            failure = null;
            startingModel = new ClusterStatus.ModelRef(info.id(), info.architecture(), info.numLayers(),
                    info.parameters(), info.dtype());
            starting = choice;
        }
        event("info", "setup: " + choice.model() + " on " + choice.nodes() + " node" + (choice.nodes() == 1 ? "" : "s")
                + ", " + (choice.network().equals("lan") ? "LAN" : "public network"));
        Thread.ofPlatform().daemon().name("parallax-setup").start(() -> {
            try {
                List<ClusterStatus.Event> copy;
                synchronized (events) {
                    copy = List.copyOf(events);
                }
                started = starter.apply(choice, copy);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "starting the scheduler for " + choice.model() + " failed", e);
                failure = "starting the scheduler for " + choice.model() + " failed: " + e.getMessage();
                event("failure", failure);
            }
        });
        return status();
    }

    @Override
    public List<NodeSample> history(long sinceMillis) {
        ClusterView view = started;
        return view != null ? view.history(sinceMillis) : List.of();
    }

    private void event(String kind, String message) {
        synchronized (events) {
            events.add(new ClusterStatus.Event(System.currentTimeMillis(), kind, message));
        }
    }

    @Override
    public void close() {
        ClusterView view = started;
        if (view != null) {
            view.close();
        }
    }
}

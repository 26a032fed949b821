package ai.parallax.server.scheduler;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Decides whether the cluster should be re-allocated, and says why. Pure: it compares the allocation in force with
 * the nodes alive now and with the allocation {@link LayerAllocator} would choose for them.
 *
 * <ul>
 *   <li>A pipeline whose node is gone is broken: re-allocate at once.</li>
 *   <li>With no allocation yet (or none possible before), allocate as soon as the nodes can hold the model.</li>
 *   <li>A new node changes nothing unless the fresh allocation builds more pipelines, or the slowest stage of the
 *       current allocation is slower than the fresh one's by more than {@code imbalanceThreshold} (e.g. 0.25 =
 *       25 %); otherwise it waits on standby. Re-allocating costs reloading weights and recomputing KV, so small
 *       gains are not worth it.</li>
 * </ul>
 */
public final class RebalancePolicy {
    private final double imbalanceThreshold;

    public RebalancePolicy(double imbalanceThreshold) {
        if (!(imbalanceThreshold >= 0)) {
            throw new IllegalArgumentException("imbalance threshold must be >= 0, got " + imbalanceThreshold);
        }
        this.imbalanceThreshold = imbalanceThreshold;
    }

    /** A re-allocation to carry out, and why. */
    public record Decision(Allocation allocation, String reason) {
    }

    /**
     * @param current the allocation in force, or null
     * @param alive   the nodes alive now
     * @return the new allocation and its reason, or empty to keep the current one
     * @throws InsufficientMemoryException when the nodes cannot hold the model (and the cluster cannot serve)
     */
    public Optional<Decision> decide(Allocation current, List<NodeProfile> alive, ModelFootprint model) {
        Allocation fresh = LayerAllocator.allocate(alive, model);
        if (current == null || current.pipelines().isEmpty()) {
            return Optional.of(new Decision(fresh, "initial allocation over " + alive.size() + " node"
                    + (alive.size() == 1 ? "" : "s")));
        }
        Set<String> aliveIds = alive.stream().map(NodeProfile::id).collect(Collectors.toSet());
        for (String id : current.activeNodes()) {
            if (!aliveIds.contains(id)) {
                return Optional.of(new Decision(fresh, "node " + Allocation.shortId(id)
                        + " left; its pipeline is broken"));
            }
        }
        if (fresh.pipelines().size() > current.pipelines().size()) {
            return Optional.of(new Decision(fresh, "the nodes now build " + fresh.pipelines().size()
                    + " pipelines instead of " + current.pipelines().size()));
        }
        Map<String, NodeProfile> byId = alive.stream().collect(Collectors.toMap(NodeProfile::id, Function.identity()));
        double now = slowestStage(current, byId);
        double better = slowestStage(fresh, byId);
        if (now > better * (1 + imbalanceThreshold)) {
            return Optional.of(new Decision(fresh, String.format(java.util.Locale.ROOT,
                    "the slowest stage would take %.0f%% less time", 100 * (1 - better / now))));
        }
        return Optional.empty();
    }

    /** The largest layers/speed of any stage: what bounds a pipeline's step time. */
    static double slowestStage(Allocation allocation, Map<String, NodeProfile> nodes) {
        double worst = 0;
        for (Allocation.Pipeline p : allocation.pipelines()) {
            for (Allocation.Stage s : p.stages()) {
                worst = Math.max(worst, s.layers().count() / nodes.get(s.nodeId()).speed());
            }
        }
        return worst;
    }
}

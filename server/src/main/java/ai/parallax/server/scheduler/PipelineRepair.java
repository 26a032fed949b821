package ai.parallax.server.scheduler;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Rebuilds only the broken pipelines of an allocation, from the nodes the healthy ones do not use (the broken
 * pipelines' survivors and the standby nodes), so that the healthy pipelines keep their stages, their KV caches and
 * their running requests: a node dying in one pipeline does not stall the others. A pure decision over node
 * profiles.
 *
 * <p>The repair keeps the number of pipelines: it applies only when the free nodes build exactly as many pipelines as
 * broke, which then take the broken ones' places (and engines). Otherwise (no healthy pipeline left, or the free
 * nodes build fewer or more) the caller re-allocates everything, as {@link LayerAllocator} would from scratch.
 */
public final class PipelineRepair {
    private PipelineRepair() {
    }

    /**
     * @param current the allocation in force
     * @param broken  indices of its pipelines that cannot serve (a node died, a step failed)
     * @param alive   every node alive now
     * @return the allocation with the broken pipelines rebuilt in place, or empty when no repair applies
     */
    public static Optional<Allocation> repair(Allocation current, Set<Integer> broken, List<NodeProfile> alive,
                                              ModelFootprint footprint) {
        int k = current.pipelines().size();
        if (broken.isEmpty() || broken.size() >= k) {
            return Optional.empty();
        }
        Set<String> healthy = new HashSet<>();
        for (int p = 0; p < k; p++) {
            if (!broken.contains(p)) {
                healthy.addAll(current.pipelines().get(p).nodeIds());
            }
        }
        Set<String> aliveIds = new HashSet<>();
        for (NodeProfile n : alive) {
            aliveIds.add(n.id());
        }
        if (!aliveIds.containsAll(healthy)) {
            throw new IllegalArgumentException("a pipeline counted as healthy has a node that is not alive");
        }
        List<NodeProfile> free = alive.stream().filter(n -> !healthy.contains(n.id())).toList();
        if (free.isEmpty()) {
            return Optional.empty();
        }
        Allocation rebuilt;
        try {
            rebuilt = LayerAllocator.allocate(free, footprint);
        } catch (InsufficientMemoryException e) {
            return Optional.empty();
        }
        if (rebuilt.pipelines().size() != broken.size()) {
            return Optional.empty();
        }
        List<Allocation.Pipeline> merged = new ArrayList<>(current.pipelines());
        int next = 0;
        for (int p = 0; p < k; p++) {
            if (broken.contains(p)) {
                merged.set(p, rebuilt.pipelines().get(next++));
            }
        }
        return Optional.of(new Allocation(merged, rebuilt.standby()));
    }
}

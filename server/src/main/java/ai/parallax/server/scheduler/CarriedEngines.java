package ai.parallax.server.scheduler;

import java.util.List;

/**
 * Sizes an allocation for the engines it must carry. The scheduler runs one engine per pipeline; when an allocation
 * builds fewer pipelines than there are engines with requests still running, engine {@code i} is carried by pipeline
 * {@code i mod k}, whose stages then hold that engine's KV blocks (and state slots) beside their own. The allocation
 * must leave room for them, or the nodes of a shrunken cluster would be asked for more memory than they have.
 *
 * <p>A pure decision over node profiles: the allocation is recomputed with each layer's cache reserve multiplied by
 * the engines per pipeline, until the number of pipelines (and so the engines each carries) settles. When even that
 * cannot fit, the proposed allocation is kept and the engines are carried anyway, over the memory the nodes declared
 * (the scheduler logs it): their requests finish instead of failing, and the extra blocks go when they do (the next
 * re-allocation sizes for one engine per pipeline again).
 */
public final class CarriedEngines {
    private CarriedEngines() {
    }

    /**
     * An allocation and how many engines each of its pipelines carries (1: only its own).
     *
     * @param kvCounted whether the allocation leaves room for every carried engine's KV; false when the nodes
     *                  could not, and carrying over-commits their memory
     */
    public record Sized(Allocation allocation, int enginesPerPipeline, boolean kvCounted) {
    }

    /**
     * Engines per pipeline when {@code busyEngines} engines (indices 0 to busyEngines - 1, the last of them with
     * requests) are spread over {@code pipelines} pipelines; engines past the pipelines without requests are closed.
     */
    public static int enginesPerPipeline(int busyEngines, int pipelines) {
        int engines = Math.max(busyEngines, pipelines);
        return (engines + pipelines - 1) / pipelines;
    }

    /**
     * Sizes {@code proposed} (an allocation over {@code nodes} for one engine per pipeline) for {@code busyEngines};
     * when no allocation can hold them all, {@code proposed} with {@code kvCounted} false.
     */
    public static Sized size(Allocation proposed, List<NodeProfile> nodes, ModelFootprint footprint,
                             int busyEngines) {
        Allocation allocation = proposed;
        for (int attempt = 0; attempt < 8; attempt++) {
            int perPipeline = enginesPerPipeline(busyEngines, allocation.pipelines().size());
            if (perPipeline == 1) {
                return new Sized(allocation, 1, true);
            }
            Allocation carrying;
            try {
                carrying = LayerAllocator.allocate(nodes, footprint.withKvCopies(perPipeline));
            } catch (InsufficientMemoryException e) {
                break;
            }
            if (enginesPerPipeline(busyEngines, carrying.pipelines().size()) == perPipeline) {
                return new Sized(carrying, perPipeline, true);
            }
            allocation = carrying; // fewer pipelines: each carries more engines; size again
        }
        return new Sized(proposed, enginesPerPipeline(busyEngines, proposed.pipelines().size()), false);
    }
}

package ai.parallax.server.cluster;

import ai.parallax.runtime.engine.EngineStats;
import ai.parallax.server.scheduler.Allocation;
import ai.parallax.server.scheduler.ModelFootprint;

import java.util.List;

/**
 * What {@link ClusterScheduler#snapshot()} shows of the cluster at one moment, for readers outside the control
 * thread (the dashboard). Immutable: it copies the scheduler's state and never changes it.
 *
 * @param model         the served model's id
 * @param layers        the model's layer count
 * @param schedulerPeer the scheduler's own peer id
 * @param joinCommand   the command a node runs to join
 * @param minNodes      how many nodes {@code -n} waits for (0: allocate as soon as the model fits)
 * @param waiting       why the cluster waits (for nodes, for memory), or null while an allocation stands
 * @param epoch         the number of allocations made so far
 * @param allocation    the allocation in force, or the one being loaded, or null before the first
 * @param serving       whether {@code allocation} is in force and the engine has its pipeline to send steps to
 * @param footprint     the model's memory per layer, embedding and head, for what a stage holds
 * @param engines       the counters of the engine serving each pipeline of {@code allocation}, by pipeline index
 *                      (shorter, or empty, while engines are being made)
 * @param members       the nodes, in joining order
 * @param events        what happened, oldest first (bounded)
 */
public record ClusterSnapshot(String model, int layers, String schedulerPeer, String joinCommand, int minNodes,
                              String waiting, long epoch, Allocation allocation, boolean serving,
                              ModelFootprint footprint, List<EngineStats> engines, List<Member> members,
                              List<ClusterEventLog.Event> events) {
    public ClusterSnapshot {
        engines = List.copyOf(engines);
        members = List.copyOf(members);
        events = List.copyOf(events);
    }

    /**
     * One node.
     *
     * @param name          the name the node gave when it joined (its host name)
     * @param local         the scheduler's own worker
     * @param state         {@code joined}, {@code loading}, {@code ready} or {@code standby}
     * @param memoryBytes   memory it offered for layers and KV cache
     * @param gflops        measured matrix × vector throughput
     * @param bandwidthGBs  measured memory read bandwidth
     * @param joinedMillis  when it joined (epoch milliseconds)
     * @param rttMillis     the last heartbeat's round trip from the scheduler, or null before one
     * @param heartbeatMillis when the last heartbeat answered (epoch milliseconds), or 0
     */
    public record Member(String peerId, String name, boolean local, String state, long memoryBytes, double gflops,
                         double bandwidthGBs, long joinedMillis, Double rttMillis, long heartbeatMillis,
                         double loadProgress) {
    }
}

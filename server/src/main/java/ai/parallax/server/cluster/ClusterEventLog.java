package ai.parallax.server.cluster;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The scheduler's recent events (joins, leaves, re-allocations, failures), kept for the dashboard. Bounded, so a
 * long-running cluster does not grow it; thread-safe, because the control thread writes and HTTP threads read.
 */
public final class ClusterEventLog {
    /** {@code kind}: {@code join}, {@code leave}, {@code allocation}, {@code failure} or {@code info}. */
    public record Event(long timeMillis, String kind, String message) {
    }

    private final int capacity;
    private final ArrayDeque<Event> events = new ArrayDeque<>();

    public ClusterEventLog(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("an event log needs room for at least one event, got " + capacity);
        }
        this.capacity = capacity;
    }

    public synchronized void add(String kind, String message) {
        if (events.size() == capacity) {
            events.removeFirst();
        }
        events.addLast(new Event(System.currentTimeMillis(), kind, message));
    }

    public synchronized List<Event> list() {
        return List.copyOf(events);
    }
}

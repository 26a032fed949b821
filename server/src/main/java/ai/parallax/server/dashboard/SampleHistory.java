package ai.parallax.server.dashboard;

import java.util.ArrayDeque;
import java.util.List;

/** The last {@code capacity} samples for the dashboard's charts, oldest dropped first. Thread-safe. */
final class SampleHistory {
    private final int capacity;
    private final ArrayDeque<NodeSample> samples = new ArrayDeque<>();

    SampleHistory(int capacity) {
        this.capacity = capacity;
    }

    synchronized void add(NodeSample sample) {
        if (samples.size() == capacity) {
            samples.removeFirst();
        }
        samples.addLast(sample);
    }

    /** Samples taken after {@code sinceMillis}, oldest first. */
    synchronized List<NodeSample> since(long sinceMillis) {
        return samples.stream().filter(s -> s.timeMillis() > sinceMillis).toList();
    }
}

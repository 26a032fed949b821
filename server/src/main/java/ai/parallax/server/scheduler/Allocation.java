package ai.parallax.server.scheduler;

import ai.parallax.models.LayerRange;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Which node serves which layers: k pipelines, each a chain of stages covering every layer once, plus the nodes left
 * on standby.
 */
public record Allocation(List<Pipeline> pipelines, List<String> standby) {
    public Allocation {
        pipelines = List.copyOf(pipelines);
        standby = List.copyOf(standby);
    }

    /** One stage: a node and the contiguous layers it runs. */
    public record Stage(String nodeId, LayerRange layers) {
    }

    /** A chain of stages, first to last, whose layer ranges tile the whole model. */
    public record Pipeline(List<Stage> stages) {
        public Pipeline {
            stages = List.copyOf(stages);
            if (stages.isEmpty()) {
                throw new IllegalArgumentException("a pipeline needs at least one stage");
            }
            int next = 0;
            for (Stage s : stages) {
                if (s.layers().start() != next) {
                    throw new IllegalArgumentException("pipeline stages must tile the layers in order; " + s
                            + " does not start at layer " + next);
                }
                next = s.layers().end();
            }
            if (next != stages.getFirst().layers().total()) {
                throw new IllegalArgumentException("pipeline ends at layer " + next + " of "
                        + stages.getFirst().layers().total());
            }
        }

        public List<String> nodeIds() {
            return stages.stream().map(Stage::nodeId).toList();
        }
    }

    /** Every node that serves layers, pipeline by pipeline. */
    public List<String> activeNodes() {
        List<String> ids = new ArrayList<>();
        for (Pipeline p : pipelines) {
            ids.addAll(p.nodeIds());
        }
        return ids;
    }

    /** The stage {@code nodeId} serves, if any. */
    public Optional<Stage> stageOf(String nodeId) {
        for (Pipeline p : pipelines) {
            for (Stage s : p.stages()) {
                if (s.nodeId().equals(nodeId)) {
                    return Optional.of(s);
                }
            }
        }
        return Optional.empty();
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < pipelines.size(); i++) {
            b.append(i == 0 ? "" : "; ").append("pipeline ").append(i).append(':');
            for (Stage s : pipelines.get(i).stages()) {
                b.append(' ').append(shortId(s.nodeId())).append(" [").append(s.layers().start()).append(',')
                        .append(s.layers().end()).append(')');
            }
        }
        if (!standby.isEmpty()) {
            b.append("; standby:");
            standby.forEach(id -> b.append(' ').append(shortId(id)));
        }
        return b.toString();
    }

    static String shortId(String id) {
        return id.length() > 12 ? "…" + id.substring(id.length() - 8) : id;
    }
}

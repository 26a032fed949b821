package ai.parallax.models;

import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

import java.util.ArrayList;
import java.util.List;

/**
 * Activation buffers that the steps of a forward pass share, one per named slot, each grown on demand. The layers
 * of a stage run one after another, so every layer's feed-forward step can use the same slots. A slot hands out row
 * views cached by row count: once the counts a model sees have each been seen once, no step allocates.
 */
public final class ScratchBuffers implements AutoCloseable {
    private final Ops ops;
    private final List<Slot> slots = new ArrayList<>();

    public ScratchBuffers(Ops ops) {
        this.ops = ops;
    }

    /** The slot {@code name} of rows {@code width} floats wide, shared with every earlier caller of that name. */
    public Slot slot(String name, long width) {
        for (Slot s : slots) {
            if (s.name.equals(name)) {
                if (s.width != width) {
                    throw new IllegalArgumentException("scratch slot '" + name + "' has width " + s.width
                            + ", asked for " + width);
                }
                return s;
            }
        }
        Slot s = new Slot(name, width);
        slots.add(s);
        return s;
    }

    @Override
    public void close() {
        slots.forEach(Slot::release);
    }

    /** One buffer {@code [capacity, width]} and its cached views. */
    public final class Slot {
        private final String name;
        private final long width;
        private Tensor buffer;
        private Tensor[] views = new Tensor[0];

        private Slot(String name, long width) {
            this.name = name;
            this.width = width;
        }

        /** Rows {@code [0, count)} of the buffer, F32 {@code [count, width]}; grows the buffer when needed. */
        public Tensor rows(int count) {
            if (count <= 0) {
                throw new IllegalArgumentException("scratch slot '" + name + "': " + count + " rows");
            }
            if (count >= views.length) {
                int capacity = Math.max(count, 2 * (views.length - 1));
                release();
                buffer = ops.allocate("scratch." + name, capacity, width);
                views = new Tensor[capacity + 1];
            }
            Tensor v = views[count];
            if (v == null) {
                v = count == buffer.rowCount() ? buffer : buffer.rows(0, count);
                views[count] = v;
            }
            return v;
        }

        private void release() {
            if (buffer != null) {
                ops.free(buffer);
                buffer = null;
                views = new Tensor[0];
            }
        }
    }
}

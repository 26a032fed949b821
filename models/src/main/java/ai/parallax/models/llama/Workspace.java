package ai.parallax.models.llama;

import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;

import java.util.ArrayList;
import java.util.List;

/**
 * The activation buffers of one forward step, sized for up to {@code capacity} tokens and reused every step.
 * Views for a given token count are cached, so a decode loop (always one token) creates no objects.
 */
final class Workspace implements AutoCloseable {
    final int capacity;
    private final Ops ops;
    private final ModelConfig config;
    private final List<Tensor> owned = new ArrayList<>();
    private final Tensor hidden;
    private final Tensor normed;
    private final Tensor query;
    private final Tensor key;
    private final Tensor value;
    private final Tensor attention;
    private Tensor logits;
    private Tensor logitsView;
    private View lastView;

    Workspace(Ops ops, ModelConfig config, int capacity) {
        this.ops = ops;
        this.config = config;
        this.capacity = capacity;
        this.hidden = own("hidden", config.hiddenSize());
        this.normed = own("normed", config.hiddenSize());
        this.query = own("query", config.queryWidth());
        this.key = own("key", config.keyValueWidth());
        this.value = own("value", config.keyValueWidth());
        this.attention = own("attention", config.queryWidth());
    }

    private Tensor own(String name, long width) {
        Tensor t = ops.allocate("workspace." + name, capacity, width);
        owned.add(t);
        return t;
    }

    View view(int count) {
        View v = lastView;
        if (v == null || v.count != count) {
            v = new View(count);
            lastView = v;
        }
        return v;
    }

    /** Logits buffer for {@code rows} tokens, grown on demand (all-position logits are for tests and scoring). */
    Tensor logits(int rows) {
        if (logits == null || logits.rowCount() < rows) {
            if (logits != null) {
                ops.free(logits);
            }
            logits = ops.allocate("workspace.logits", rows, config.vocabSize());
            logitsView = null;
        }
        if (logitsView == null || logitsView.rowCount() != rows) {
            logitsView = logits.rowCount() == rows ? logits : logits.rows(0, rows);
        }
        return logitsView;
    }

    @Override
    public void close() {
        owned.forEach(ops::free);
        owned.clear();
        if (logits != null) {
            ops.free(logits);
            logits = null;
        }
    }

    /** The buffers cut to {@code count} token rows. */
    final class View {
        final int count;
        final Tensor hidden;
        final Tensor normed;
        final Tensor query;
        final Tensor key;
        final Tensor value;
        final Tensor attention;
        private final int[] positions;
        private final int[] tokens;

        View(int count) {
            this.count = count;
            this.hidden = Workspace.this.hidden.rows(0, count);
            this.normed = Workspace.this.normed.rows(0, count);
            this.query = Workspace.this.query.rows(0, count);
            this.key = Workspace.this.key.rows(0, count);
            this.value = Workspace.this.value.rows(0, count);
            this.attention = Workspace.this.attention.rows(0, count);
            this.positions = new int[count];
            this.tokens = new int[count];
        }

        /** Positions [startPos, startPos + count), in a reused array. */
        int[] positions(int startPos) {
            for (int i = 0; i < count; i++) {
                positions[i] = startPos + i;
            }
            return positions;
        }

        /** The first {@code count} ids, in a reused array of exactly that length. */
        int[] tokens(int[] ids) {
            System.arraycopy(ids, 0, tokens, 0, count);
            return tokens;
        }
    }
}

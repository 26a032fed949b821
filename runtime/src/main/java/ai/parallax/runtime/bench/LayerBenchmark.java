package ai.parallax.runtime.bench;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.models.LayerProfile;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import ai.parallax.tensors.safetensors.Checkpoint;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Times each decoder layer of a model on its own, as a one-layer pipeline stage: a decode step of {@code batch}
 * sequences that each attend to {@code context} cached positions. What a stage of a 671B model costs is the sum of
 * its layers, so a slice written by {@code synth --layers N} is enough to measure every layer type of a family.
 *
 * <p>Bytes read per token are the layer's weights as the checkpoint stores them, of which a mixture reads only the
 * experts its tokens are routed to (under even routing, {@link LayerProfile#expertFractionRead}), shared by the batch,
 * plus each sequence's own cache: the positions it attends to (the window for a sliding layer) or its recurrent
 * state, read and written back.
 *
 * <p>To keep the set-up short, the context is prefilled once, in one sequence, and every sequence of a batch shares
 * those blocks as a common prefix; each writes its new position into a block of its own. The hidden states are
 * random rows of unit variance.
 */
public final class LayerBenchmark {
    private static final int BLOCK_SIZE = 16;
    private static final int WARM_UP_STEPS = 3;
    private static final String EXPERT_TENSORS = ".mlp.experts.";

    /**
     * What to measure: the cached context (rounded up to whole KV blocks of 16), the batch sizes and the timed
     * decode steps per figure.
     */
    public record Settings(int context, List<Integer> batches, int steps, long seed) {
        public Settings {
            if (context < 1 || steps < 1) {
                throw new IllegalArgumentException("context and steps must be at least 1, got " + context + " and "
                        + steps);
            }
            batches = List.copyOf(batches);
            for (int b : batches) {
                if (b < 1) {
                    throw new IllegalArgumentException("batch sizes must be positive, got " + batches);
                }
            }
        }
    }

    /**
     * One layer at one batch size.
     *
     * @param stepSeconds        median time of one decode step of the whole batch through the layer
     * @param bytesPerToken      memory read per token of the step (weights shared by the batch, plus its cache)
     * @param bandwidthFraction  bytes read per second over the machine's read bandwidth
     */
    public record LayerFigures(int layer, String kind, int batch, double stepSeconds, double bytesPerToken,
                               double bandwidthFraction) {
    }

    private final Path dir;
    private final ModelConfig config;
    private final Ops ops;
    private final SplittableRandom random;
    private final float[] probe;

    public LayerBenchmark(Path dir, ModelConfig config, Ops ops, long seed) {
        this.dir = dir;
        this.config = config;
        this.ops = ops;
        this.random = new SplittableRandom(seed);
        this.probe = new float[config.hiddenSize()];
    }

    /** Every layer at every batch size of {@code settings}; {@code bandwidth} in bytes per second. */
    public List<LayerFigures> run(Settings settings, double bandwidth) {
        long[][] weightBytes = weightBytesPerLayer();
        int context = roundUpToBlock(settings.context());
        List<LayerFigures> figures = new ArrayList<>();
        for (int layer = 0; layer < config.numLayers(); layer++) {
            LayerProfile profile = LayerProfile.of(config, layer);
            LayerRange range = new LayerRange(layer, layer + 1, config.numLayers());
            try (CausalLanguageModel stage = ModelLoader.load(dir, config, ops, range, context + 1)) {
                if (layer == 0) {
                    // An untimed first round, so that the JIT has compiled the kernels before any figure is taken.
                    stepSeconds(stage, settings.batches().getFirst(), context, settings.steps());
                }
                for (int batch : settings.batches()) {
                    double seconds = stepSeconds(stage, batch, context, settings.steps());
                    double weights = weightBytes[layer][0] + weightBytes[layer][1] * profile.expertFractionRead(batch);
                    double perSequence = profile.cacheBytes(context + 1)
                            + profile.stateBytesPerSequence(); // state: read, then written back
                    double bytesPerToken = weights / batch + perSequence;
                    double fraction = bytesPerToken * batch / seconds / bandwidth;
                    figures.add(new LayerFigures(layer, profile.kind(), batch, seconds, bytesPerToken, fraction));
                }
            }
        }
        return figures;
    }

    /** Per layer: {bytes outside the routed experts, bytes of the routed experts}, from the headers. */
    private long[][] weightBytesPerLayer() {
        long[][] bytes = new long[config.numLayers()][2];
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            for (String name : checkpoint.tensorNames()) {
                if (!name.startsWith("model.layers.")) {
                    continue;
                }
                int end = name.indexOf('.', "model.layers.".length());
                int layer = Integer.parseInt(name.substring("model.layers.".length(), end));
                if (layer < bytes.length) {
                    bytes[layer][name.contains(EXPERT_TENSORS) ? 1 : 0] += checkpoint.info(name).orElseThrow()
                            .byteSize();
                }
            }
        }
        return bytes;
    }

    private double stepSeconds(CausalLanguageModel stage, int batch, int context, int steps) {
        int prefixBlocks = context / BLOCK_SIZE;
        int blockCount = prefixBlocks + batch;
        try (KvCache cache = stage.newPagedKvCache(blockCount, BLOCK_SIZE, batch)) {
            int[][] tables = new int[batch][prefixBlocks + 1];
            for (int s = 0; s < batch; s++) {
                for (int b = 0; b < prefixBlocks; b++) {
                    tables[s][b] = b;
                }
                tables[s][prefixBlocks] = prefixBlocks + s;
            }
            BatchLayout layout = new BatchLayout(BLOCK_SIZE);
            int hidden = config.hiddenSize();
            // The shared prefix, prefilled once through sequence 0.
            layout.add(0, context, tables[0], 0);
            forward(stage, layout, context, hidden, cache);

            layout.clear();
            for (int s = 0; s < batch; s++) {
                layout.add(context, 1, tables[s], s);
            }
            for (int i = 0; i < WARM_UP_STEPS; i++) {
                forward(stage, layout, batch, hidden, cache);
            }
            long[] nanos = new long[steps];
            for (int i = 0; i < steps; i++) {
                nanos[i] = forward(stage, layout, batch, hidden, cache);
            }
            // The median: one step slowed by other work on the machine does not move it.
            java.util.Arrays.sort(nanos);
            return (steps % 2 == 1 ? nanos[steps / 2] : (nanos[steps / 2 - 1] + nanos[steps / 2]) / 2.0) * 1e-9;
        }
    }

    /** One step through the layer from fresh random hidden rows; the nanoseconds the layer took. */
    private long forward(CausalLanguageModel stage, BatchLayout layout, int rows, int hidden, KvCache cache) {
        float[] values = new float[rows * hidden];
        for (int i = 0; i < values.length; i++) {
            // Uniform in ±sqrt(3): unit variance, the scale of a residual stream.
            values[i] = (float) ((random.nextDouble() * 2 - 1) * Math.sqrt(3));
        }
        Tensor input = stage.hiddenInput(rows);
        ops.copyFromHost(values, 0, input);
        long start = System.nanoTime();
        Tensor output = stage.forwardLayers(input, layout, cache);
        // Reading one value back waits for a device backend to finish the step; on the CPU it is immediate.
        ops.copyToHost(output.rows(0, 1), probe, 0);
        return System.nanoTime() - start;
    }

    private static int roundUpToBlock(int positions) {
        return (positions + BLOCK_SIZE - 1) / BLOCK_SIZE * BLOCK_SIZE;
    }
}

package ai.parallax.runtime.bench;

import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.KvCache;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Times a loaded model the way {@code parallax bench} reports it: prefill of one long prompt, decode of one
 * sequence token by token, and batched decode of several sequences stepping together through the paged forward.
 * Token ids are random (seeded): speed does not depend on them.
 *
 * <p>Every measurement follows a warm-up of the same kind, so that C2 has compiled the kernels.
 */
public final class ModelBenchmark {
    /** Positions per KV block for the batched runs: the engine's default. */
    private static final int BLOCK_SIZE = 16;
    /** Most warm-up rounds of decode; a cold JIT on a busy machine may need many. */
    private static final int WARM_UP_ROUNDS = 40;
    /** Below this many heap bytes per decoded token, no step runs uncompiled vector code any more. */
    private static final long COMPILED_BYTES_PER_TOKEN = 1024;

    /**
     * What to measure. {@code longContext}, when positive, adds a batch-1 decode of {@code decodeTokens} tokens
     * that starts at that position, so every step attends to at least that many cached positions.
     */
    public record Settings(int promptTokens, int decodeTokens, List<Integer> batchSizes, int batchedSteps, long seed,
                           int longContext) {
        public Settings {
            if (promptTokens < 1 || decodeTokens < 1 || batchedSteps < 1) {
                throw new IllegalArgumentException("prompt, decode and batched step counts must be at least 1");
            }
            if (longContext < 0) {
                throw new IllegalArgumentException("the long-context position must not be negative, got "
                        + longContext);
            }
            batchSizes = List.copyOf(batchSizes);
        }

        public Settings(int promptTokens, int decodeTokens, List<Integer> batchSizes, int batchedSteps, long seed) {
            this(promptTokens, decodeTokens, batchSizes, batchedSteps, seed, 0);
        }

        /** Positions the model must hold for every run. */
        public int positionsNeeded() {
            return Math.max(promptTokens, Math.max(longContext + decodeTokens + 1, batchedSteps)) + 1;
        }
    }

    /**
     * Tokens per second of one run, and how many tokens it timed. {@code cpuCores} is the CPU time the process got
     * during the run over {@code seconds}: the cores it kept busy on average (NaN where not measured). On a shared
     * machine, fewer than the threads it ran means other work took the cores, and the rate is lower than the
     * machine allows.
     */
    public record Throughput(int tokens, double seconds, double cpuCores) {
        public Throughput(int tokens, double seconds) {
            this(tokens, seconds, Double.NaN);
        }

        public double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    /** A batched decode run: {@code batch} sequences stepping together. */
    public record Batched(int batch, Throughput throughput) {
    }

    /**
     * Everything measured; allocation is what all threads allocated on the heap per decoded token.
     * {@code longContextDecode} is null when no long-context run was asked for.
     */
    public record Measurements(Throughput prefill, Throughput decode, List<Batched> batched,
                               double decodeAllocatedBytesPerToken, Throughput longContextDecode) {
        public Measurements(Throughput prefill, Throughput decode, List<Batched> batched,
                            double decodeAllocatedBytesPerToken) {
            this(prefill, decode, batched, decodeAllocatedBytesPerToken, null);
        }
    }

    private static final com.sun.management.OperatingSystemMXBean PROCESS =
            (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();

    private final CausalLanguageModel model;
    private final Ops ops;
    private final SplittableRandom random;
    private final int vocab;

    public ModelBenchmark(CausalLanguageModel model, Ops ops, long seed) {
        if (!model.layers().isWholeModel()) {
            throw new IllegalArgumentException("the benchmark needs the whole model; got layers " + model.layers());
        }
        this.model = model;
        this.ops = ops;
        this.random = new SplittableRandom(seed);
        this.vocab = model.config().vocabSize();
    }

    /** Runs every measurement of {@code settings}. */
    public Measurements run(Settings settings) {
        warmUp();
        // Each timed shape once beforehand: a branch first taken in a timed run (a prompt of 512 splits into token
        // chunks a 128-token warm-up never made, batch 32 fills tiles batch 4 does not) is an uncommon trap that
        // sends the compiled kernel back to profiled code, which boxes every vector until C2 compiles it again;
        // on a loaded machine that took long enough to show as a gigabyte allocated per token.
        prefill(settings.promptTokens());
        for (int batch : settings.batchSizes()) {
            batchedDecode(batch, 2);
        }
        Throughput prefill = prefill(settings.promptTokens());
        // The shapes above may have trapped kernels that decode shares (a Q8 prompt of 512 runs the token-lane GEMM,
        // after which decode ran boxed at 0.4-0.8 GB per token in some runs): compile decode again before timing it.
        warmUpDecode();
        long[] allocated = new long[1];
        Throughput decode = decode(settings.decodeTokens(), allocated);
        List<Batched> batched = new ArrayList<>();
        for (int batch : settings.batchSizes()) {
            batched.add(new Batched(batch, batchedDecode(batch, settings.batchedSteps())));
        }
        Throughput longContext = null;
        if (settings.longContext() > 0) {
            decodeFrom(settings.longContext(), Math.min(8, settings.decodeTokens()));
            longContext = decodeFrom(settings.longContext(), settings.decodeTokens());
        }
        return new Measurements(prefill, decode, List.copyOf(batched),
                (double) allocated[0] / settings.decodeTokens(), longContext);
    }

    /**
     * Greedy decoding of {@code tokens} tokens from position {@code context}: each step attends to every earlier
     * position of the cache. Those positions hold whatever the fresh cache holds, which costs the same time as a
     * real prompt's keys and values and saves prefilling one.
     */
    public Throughput decodeFrom(int context, int tokens) {
        try (KvCache cache = model.newKvCache(context + tokens + 1)) {
            int[] step = {randomTokens(1)[0]};
            Stopwatch watch = new Stopwatch();
            for (int position = context; position < context + tokens; position++) {
                Tensor logits = model.forward(step, 1, position, cache, false);
                step[0] = ops.argmax(logits, 0);
            }
            return watch.stop(tokens);
        }
    }

    private void warmUp() {
        // Each kind of step runs until C2 has compiled the kernels it uses. Vector code that still runs interpreted
        // or in C1 boxes every vector on the heap, so allocation per token is the sign that compilation is done.
        prefill(Math.min(128, model.maxPositions() - 1));
        warmUpDecode();
        batchedDecode(4, 4);
        batchedDecode(4, 4);
    }

    /** Decodes rounds of 16 tokens until one allocates as little as compiled code does (or the rounds run out). */
    private void warmUpDecode() {
        long[] allocated = new long[1];
        int steps = Math.min(16, model.maxPositions() - 1);
        for (int round = 0; round < WARM_UP_ROUNDS; round++) {
            decode(steps, allocated);
            if (allocated[0] / steps < COMPILED_BYTES_PER_TOKEN) {
                break;
            }
        }
    }

    /** One forward pass over a prompt of {@code tokens} random ids, from an empty cache. */
    public Throughput prefill(int tokens) {
        int[] prompt = randomTokens(tokens);
        try (KvCache cache = model.newKvCache(tokens)) {
            Stopwatch watch = new Stopwatch();
            Tensor logits = model.forward(prompt, tokens, 0, cache, false);
            ops.argmax(logits, 0);
            return watch.stop(tokens);
        }
    }

    /**
     * Greedy decoding of {@code tokens} tokens from a one-token prompt; {@code allocated[0]} receives the heap bytes
     * all threads allocated during the timed loop.
     */
    public Throughput decode(int tokens, long[] allocated) {
        try (KvCache cache = model.newKvCache(tokens + 1)) {
            int[] step = {randomTokens(1)[0]};
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long[] ids = threads.getAllThreadIds();
            long[] before = threads.getThreadAllocatedBytes(ids);
            Stopwatch watch = new Stopwatch();
            for (int position = 0; position < tokens; position++) {
                Tensor logits = model.forward(step, 1, position, cache, false);
                step[0] = ops.argmax(logits, 0);
            }
            Throughput throughput = watch.stop(tokens);
            allocated[0] = allocatedBetween(before, threads.getThreadAllocatedBytes(ids));
            return throughput;
        }
    }

    /**
     * {@code batch} sequences, each from a one-token prompt, decoding {@code steps} tokens together: every step is
     * one paged forward pass over {@code batch} rows.
     */
    public Throughput batchedDecode(int batch, int steps) {
        int blocksPerSequence = (steps + BLOCK_SIZE - 1) / BLOCK_SIZE;
        // One state slot per sequence, for models that keep state beside the blocks (Qwen3-Next, gpt-oss's rings).
        try (KvCache cache = model.newPagedKvCache(batch * blocksPerSequence, BLOCK_SIZE, batch)) {
            int[][] blockTables = new int[batch][blocksPerSequence];
            for (int s = 0; s < batch; s++) {
                for (int b = 0; b < blocksPerSequence; b++) {
                    blockTables[s][b] = s * blocksPerSequence + b;
                }
            }
            int[] tokens = randomTokens(batch);
            BatchLayout layout = new BatchLayout(BLOCK_SIZE);
            Stopwatch watch = new Stopwatch();
            for (int position = 0; position < steps; position++) {
                layout.clear();
                for (int s = 0; s < batch; s++) {
                    layout.add(position, 1, blockTables[s], s);
                }
                Tensor hidden = model.embed(tokens, batch);
                model.forwardLayers(hidden, layout, cache);
                Tensor logits = model.logits(hidden, layout.lastTokenRows());
                for (int s = 0; s < batch; s++) {
                    tokens[s] = ops.argmax(logits, s);
                }
            }
            return watch.stop(batch * steps);
        }
    }

    /** Wall time and the process's CPU time since it was made. */
    private final class Stopwatch {
        private final long startNanos = System.nanoTime();
        private final long startCpu = PROCESS.getProcessCpuTime();

        Throughput stop(int tokens) {
            double seconds = (System.nanoTime() - startNanos) * 1e-9;
            long cpu = PROCESS.getProcessCpuTime();
            double cores = startCpu < 0 || cpu < 0 ? Double.NaN : (cpu - startCpu) * 1e-9 / seconds;
            return new Throughput(tokens, seconds, cores);
        }
    }

    private int[] randomTokens(int count) {
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) {
            ids[i] = random.nextInt(vocab);
        }
        return ids;
    }

    /**
     * Bytes allocated between two readings of the same threads. A thread that ended in between reads -1 (the
     * common pool's workers that quantised the weights end this way) and counts nothing: summing each reading on
     * its own made the difference negative, which passed the warm-up's "compiled" test before C2 had run.
     */
    static long allocatedBetween(long[] before, long[] after) {
        long total = 0;
        for (int i = 0; i < before.length; i++) {
            if (before[i] >= 0 && after[i] >= before[i]) {
                total += after[i] - before[i];
            }
        }
        return total;
    }
}

package ai.parallax.server.cli;

import ai.parallax.kernels.simd.CpuTopology;
import ai.parallax.kernels.simd.HardwareProbe;
import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.WeightQuantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.LocalModel;
import ai.parallax.runtime.bench.BenchReport;
import ai.parallax.runtime.bench.ModelBenchmark;
import ai.parallax.runtime.bench.ModelCost;
import ai.parallax.runtime.bench.ServingBenchmark;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code parallax bench}: measure this machine's memory bandwidth and FMA rate, then a model's prefill, decode and
 * batched decode speed, each beside the ceiling those two figures allow.
 */
@Command(name = "bench",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Measure memory bandwidth and peak FMA rate, then a model's prefill, decode and batched "
                + "decode tokens/s, each as a percentage of its hardware ceiling.",
        footer = {"", "Example: parallax bench -m /tmp/llama-3.2-1b --prompt 512 --decode 128 --batch 8,32",
            "         parallax bench -m /tmp/llama-3.2-1b --batch 0 --context 8192"})
public final class BenchCommand implements Callable<Integer> {
    private static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "<dir>",
            description = "Model directory in Hugging Face layout (see 'parallax synth' for synthetic ones).")
    Path model;

    @Option(names = "--threads", paramLabel = "<n>",
            description = "CPU threads for the kernels and the multi-threaded probes (default: physical cores).")
    Integer threads;

    @Option(names = "--prompt", defaultValue = "512", paramLabel = "<n>",
            description = "Prompt tokens of the prefill run (default: ${DEFAULT-VALUE}).")
    int prompt;

    @Option(names = "--decode", defaultValue = "128", paramLabel = "<n>",
            description = "Tokens decoded at batch 1 (default: ${DEFAULT-VALUE}).")
    int decode;

    @Option(names = "--batch", defaultValue = "8,32", split = ",", paramLabel = "<n>",
            description = "Batch sizes of the batched decode runs (default: ${DEFAULT-VALUE}); 0 skips them.")
    List<Integer> batches;

    @Option(names = "--batch-steps", defaultValue = "16", paramLabel = "<n>",
            description = "Decode steps of each batched run (default: ${DEFAULT-VALUE}).")
    int batchSteps;

    @Option(names = "--context", defaultValue = "0", paramLabel = "<n>",
            description = "Also decode --decode tokens at batch 1 starting at this position (e.g. 8192), so each "
                    + "step attends to that much context; 0 skips it (default: ${DEFAULT-VALUE}).")
    int context;

    @Option(names = "--probe-mb", defaultValue = "512", paramLabel = "<MiB>",
            description = "Buffer the bandwidth probe streams through (default: ${DEFAULT-VALUE}).")
    int probeMb;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "<n>", description = "Seed of the random prompt.")
    long seed;

    @Option(names = "--quantize", paramLabel = "<type>", defaultValue = "none",
            description = "Hold linear weights as q8 (int8 in blocks of 32) or none (default: ${DEFAULT-VALUE}).")
    String quantize;

    @Option(names = "--serving", split = ",", paramLabel = "<n>",
            description = "Instead of the runs above, serve this many concurrent greedy requests at a time through "
                    + "the continuous-batching engine (e.g. 1,4,16,64) and report aggregate tokens/s, time to first "
                    + "token and inter-token latency.")
    List<Integer> serving;

    @Option(names = "--serving-prompt", defaultValue = "128", paramLabel = "<n>",
            description = "Prompt tokens of each --serving request (default: ${DEFAULT-VALUE}).")
    int servingPrompt;

    @Option(names = "--serving-tokens", defaultValue = "64", paramLabel = "<n>",
            description = "Tokens each --serving request generates (default: ${DEFAULT-VALUE}).")
    int servingTokens;

    @Option(names = "--json", description = "Print one JSON object with every figure instead of a table.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        int threadCount = threads != null ? threads : CpuTopology.physicalCores();
        require(threadCount >= 1, "--threads must be at least 1, got " + threadCount);
        require(prompt >= 1 && decode >= 1 && batchSteps >= 1,
                "--prompt, --decode and --batch-steps must be at least 1");
        require(context >= 0, "--context must not be negative, got " + context);
        require(probeMb >= 64, "--probe-mb must be at least 64 (larger than the caches), got " + probeMb);
        List<Integer> batchSizes = batches.stream().filter(b -> b != 0).toList();
        for (int b : batchSizes) {
            require(b >= 1, "--batch sizes must be positive, got " + b);
        }
        Path dir = InputPaths.modelDirectory(model);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (serving != null) {
            return benchServing(dir, threadCount, out, err);
        }

        progress(err, "measuring memory bandwidth and FMA rate ...");
        long probeBytes = (long) probeMb << 20;
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        HardwareProbe.Rate bandwidth = HardwareProbe.readBandwidth(threadCount, probeBytes);
        HardwareProbe.Rate fma = HardwareProbe.fmaRate(threadCount);
        BenchReport.Machine machine = new BenchReport.Machine(threadCount,
                HardwareProbe.readBandwidth(1, probeBytes).median(), bandwidth.median(),
                HardwareProbe.fmaRate(1).median(), fma.median(), bandwidth.best(), fma.best());

        ModelConfig config = ModelConfig.read(dir);
        WeightQuantization quantization = WeightQuantization.parse(quantize);
        ModelBenchmark.Settings settings = new ModelBenchmark.Settings(prompt, decode, batchSizes, batchSteps, seed,
                context);
        int positions = settings.positionsNeeded();
        try (SimdOps ops = new SimdOps(threadCount);
             TerminalProgressBar bar = TerminalProgressBar.forLoading(err, !json);
             CausalLanguageModel loaded = ModelLoader.load(dir, config, ops, LayerRange.all(config.numLayers()),
                     positions, bar, quantization)) {
            bar.close();
            require(loaded.maxPositions() >= positions - 1, "the model's context (" + loaded.maxPositions()
                    + " positions) is shorter than the benchmark needs (" + (positions - 1) + ")");
            progress(err, "running prefill, decode and batched decode ...");
            ModelBenchmark.Measurements m = new ModelBenchmark(loaded, ops, seed).run(settings);
            ModelCost cost = quantization == WeightQuantization.Q8 ? ModelCost.ofQ8(config)
                    : ModelCost.of(config, loaded.weightBytes());
            BenchReport report = BenchReport.of(machine, cost, settings, m);
            double loadAfter = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
            if (json) {
                ObjectNode root = JSON.valueToTree(report);
                root.put("loadAverageBefore", loadBefore);
                root.put("loadAverageAfter", loadAfter);
                root.put("model", dir.toAbsolutePath().toString());
                root.put("modelType", config.modelType());
                root.put("backend", ops.name());
                root.put("quantization", quantization.toString());
                out.println(JSON.writeValueAsString(root));
            } else {
                printTable(out, dir, config, loaded, report);
                out.printf(Locale.ROOT, "load average: %.2f before, %.2f after (%d processors): other work on the "
                        + "machine lowers the measured rates, not the ceilings%n", loadBefore, loadAfter,
                        Runtime.getRuntime().availableProcessors());
            }
        }
        return 0;
    }

    private int benchServing(Path dir, int threadCount, PrintWriter out, PrintWriter err) throws Exception {
        ServingBenchmark.Settings settings;
        try {
            settings = new ServingBenchmark.Settings(serving, servingPrompt, servingTokens, seed);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--serving, --serving-prompt, --serving-tokens: "
                    + e.getMessage());
        }
        int sequence = servingPrompt + servingTokens;
        int concurrency = settings.maxConcurrency();
        int blockSize = EngineConfig.DEFAULT_BLOCK_SIZE;
        // A KV pool that holds every request whole, so the figures measure batching, not pre-emption.
        EngineConfig engineConfig = new EngineConfig(blockSize, concurrency * ((sequence + blockSize - 1) / blockSize),
                EngineConfig.DEFAULT_MAX_PREFILL_CHUNK, concurrency, concurrency);
        try (SimdOps ops = new SimdOps(threadCount);
             TerminalProgressBar bar = TerminalProgressBar.forLoading(err, !json);
             LocalModel local = LocalModel.open(dir, ops, sequence + 1, bar, WeightQuantization.parse(quantize))) {
            bar.close();
            require(local.model().maxPositions() >= sequence, "the model's context ("
                    + local.model().maxPositions() + " positions) is shorter than --serving-prompt plus "
                    + "--serving-tokens (" + sequence + ")");
            List<ServingBenchmark.Row> rows;
            try (InferenceEngine engine = local.newEngine(ops, engineConfig)) {
                progress(err, "serving " + serving + " concurrent requests ...");
                rows = new ServingBenchmark(engine, local.model().config().vocabSize()).run(settings);
            }
            if (json) {
                ObjectNode root = JSON.createObjectNode();
                root.put("model", dir.toAbsolutePath().toString());
                root.put("threads", threadCount);
                root.put("promptTokens", servingPrompt);
                root.put("generatedTokens", servingTokens);
                root.set("serving", JSON.valueToTree(rows));
                out.println(JSON.writeValueAsString(root));
            } else {
                out.printf(Locale.ROOT, "model: %s, %d thread(s), %d-token prompts, %d generated tokens per request, "
                        + "greedy, ignore_eos%n", dir, threadCount, servingPrompt, servingTokens);
                out.printf(Locale.ROOT, "%11s %10s %12s %28s %28s%n", "concurrency", "tokens", "tokens/s",
                        "TTFT ms p50/p90/p99", "ITL ms p50/p90/p99");
                for (ServingBenchmark.Row r : rows) {
                    out.printf(Locale.ROOT, "%11d %10d %12.2f %28s %28s%n", r.concurrency(), r.generatedTokens(),
                            r.tokensPerSecond(), percentiles(r.timeToFirstToken()), percentiles(r.interTokenLatency()));
                }
            }
        }
        return 0;
    }

    private static String percentiles(ServingBenchmark.Percentiles p) {
        return String.format(Locale.ROOT, "%.1f / %.1f / %.1f", p.p50(), p.p90(), p.p99());
    }

    private void progress(PrintWriter err, String message) {
        if (!json) {
            err.println(message);
            err.flush();
        }
    }

    private static void printTable(PrintWriter out, Path dir, ModelConfig config, CausalLanguageModel model,
                                   BenchReport r) {
        BenchReport.Machine m = r.machine();
        out.printf(Locale.ROOT, "model: %s (%s, %.2f GB of weights, %.2f GB read per decoded token)%n", dir,
                config.modelType(), model.weightBytes() / 1e9, r.cost().weightBytesRead() / 1e9);
        out.printf(Locale.ROOT, "machine: %d thread(s); read bandwidth %.1f GB/s (best %.1f; 1 thread %.1f); "
                        + "FMA peak %.0f GFLOP/s (best %.0f; 1 thread %.0f)%n", m.threads(), m.bandwidth() / 1e9,
                m.bandwidthBest() / 1e9, m.bandwidthOneThread() / 1e9, m.fmaRate() / 1e9, m.fmaRateBest() / 1e9,
                m.fmaRateOneThread() / 1e9);
        out.printf(Locale.ROOT, "%-16s %8s %12s %16s %16s %8s %6s%n", "run", "tokens", "tokens/s", "memory ceiling",
                "compute ceiling", "% ceil", "cpu %");
        for (BenchReport.Row row : r.rows()) {
            out.printf(Locale.ROOT, "%-16s %8d %12.2f %16s %16s %7.1f%% %5s%%%n", row.name(), row.tokens(),
                    row.tokensPerSecond(), figure(row.bandwidthCeiling()), figure(row.computeCeiling()),
                    row.percentOfCeiling(), Double.isNaN(row.cpuShare()) ? "-"
                            : String.format(Locale.ROOT, "%.0f", 100 * row.cpuShare()));
        }
        out.printf(Locale.ROOT, "cpu %%: CPU time the process got over wall time x threads; well below 100, other "
                + "work took the cores during that run%n");
        out.printf(Locale.ROOT, "heap allocated per decoded token: %.0f bytes (all threads)%n",
                r.decodeAllocatedBytesPerToken());
    }

    private static String figure(double value) {
        return Double.isNaN(value) ? "-" : String.format(Locale.ROOT, "%.2f", value);
    }

    private void require(boolean condition, String message) {
        if (!condition) {
            throw new ParameterException(spec.commandLine(), message);
        }
    }
}

package ai.parallax.server.cli;

import ai.parallax.kernels.simd.CpuTopology;
import ai.parallax.kernels.simd.HardwareProbe;
import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.kernels.vulkan.VulkanOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.LayerRange;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.WeightQuantization;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.LocalModel;
import ai.parallax.runtime.bench.BenchReport;
import ai.parallax.runtime.bench.LayerBenchmark;
import ai.parallax.runtime.bench.ModelBenchmark;
import ai.parallax.runtime.bench.ModelCost;
import ai.parallax.runtime.bench.ServingBenchmark;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.tensors.ops.Ops;
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

    @Option(names = "--device", paramLabel = "<cpu|vulkan|auto>", defaultValue = "cpu",
            description = "Where the kernels run: cpu (Vector API), vulkan (the best Vulkan device) or auto "
                    + "(a discrete GPU when present, else cpu). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--bandwidth", paramLabel = "<GB/s>",
            description = "Memory bandwidth to use as the ceiling instead of the measured one (e.g. a GPU's "
                    + "datasheet figure).")
    Double bandwidthGbs;

    @Option(names = "--tflops", paramLabel = "<TFLOP/s>",
            description = "Compute peak to use as the ceiling instead of the measured one; on a GPU, where none is "
                    + "measured, the compute ceilings are left out without it.")
    Double peakTflops;

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

    @Option(names = "--per-layer", description = "Instead of the runs above, time every decoder layer on its own "
            + "(as a one-layer stage) at the --layer-batch sizes: step time, bytes read per token and the fraction "
            + "of memory bandwidth, per layer type. Meant for slices written by 'synth --layers N'.")
    boolean perLayer;

    @Option(names = "--layer-batch", defaultValue = "1,16", split = ",", paramLabel = "<n>",
            description = "Batch sizes of --per-layer (default: ${DEFAULT-VALUE}).")
    List<Integer> layerBatches;

    @Option(names = "--layer-context", defaultValue = "256", paramLabel = "<n>",
            description = "Cached positions each sequence attends to in --per-layer (default: ${DEFAULT-VALUE}).")
    int layerContext;

    @Option(names = "--layer-steps", defaultValue = "8", paramLabel = "<n>",
            description = "Timed decode steps per --per-layer figure (default: ${DEFAULT-VALUE}).")
    int layerSteps;

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
        if (perLayer) {
            if (!device.equals("cpu")) {
                throw new ParameterException(spec.commandLine(),
                        "--per-layer measures the CPU backend only; leave out --device " + device);
            }
            return benchLayers(dir, threadCount, out, err);
        }

        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        try (Ops ops = Backends.open(device, threadCount)) {
            BenchReport.Machine machine = measureMachine(ops, threadCount, err);
            return benchModel(dir, ops, machine, batchSizes, loadBefore, out, err);
        }
    }

    /**
     * The ceilings: on the CPU, its measured read bandwidth and FMA rate; on a GPU, the device memory's copy
     * bandwidth and no compute peak (a matrix shader's peak depends on the shader). --bandwidth and --tflops
     * replace either.
     */
    private BenchReport.Machine measureMachine(Ops ops, int threadCount, PrintWriter err) {
        long probeBytes = (long) probeMb << 20;
        double peakFlops = peakTflops == null ? Double.NaN : peakTflops * 1e12;
        if (ops instanceof VulkanOps gpu) {
            progress(err, "on " + gpu.device().describe());
            double copy = gpu.measureCopyBandwidth(Math.min(probeBytes, gpu.device().maxStorageBufferRange()), 5);
            progress(err, String.format(Locale.ROOT, "device copy bandwidth %.1f GB/s (read + write)", copy / 1e9));
            double bandwidth = bandwidthGbs != null ? bandwidthGbs * 1e9 : copy;
            return new BenchReport.Machine(1, copy, bandwidth, peakFlops, peakFlops, copy, peakFlops);
        }
        progress(err, "measuring memory bandwidth and FMA rate ...");
        HardwareProbe.Rate bandwidth = HardwareProbe.readBandwidth(threadCount, probeBytes);
        HardwareProbe.Rate fma = HardwareProbe.fmaRate(threadCount);
        double b = bandwidthGbs != null ? bandwidthGbs * 1e9 : bandwidth.median();
        double f = peakTflops != null ? peakFlops : fma.median();
        return new BenchReport.Machine(threadCount, HardwareProbe.readBandwidth(1, probeBytes).median(), b,
                HardwareProbe.fmaRate(1).median(), f, bandwidth.best(), fma.best());
    }

    private int benchModel(Path dir, Ops ops, BenchReport.Machine machine, List<Integer> batchSizes,
                           double loadBefore, PrintWriter out, PrintWriter err) throws Exception {
        ModelConfig config = ModelConfig.read(dir);
        WeightQuantization quantization = WeightQuantization.parse(quantize);
        ModelBenchmark.Settings settings = new ModelBenchmark.Settings(prompt, decode, batchSizes, batchSteps, seed,
                context);
        int positions = settings.positionsNeeded();
        try (TerminalProgressBar bar = TerminalProgressBar.forLoading(err, !json);
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
                printTable(out, dir, config, loaded, report, ops);
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
        try (Ops ops = Backends.open(device, threadCount);
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

    private int benchLayers(Path dir, int threadCount, PrintWriter out, PrintWriter err) throws Exception {
        LayerBenchmark.Settings settings;
        try {
            settings = new LayerBenchmark.Settings(layerContext, layerBatches, layerSteps, seed);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--layer-batch, --layer-context, --layer-steps: "
                    + e.getMessage());
        }
        progress(err, "measuring memory bandwidth ...");
        double bandwidth = HardwareProbe.readBandwidth(threadCount, (long) probeMb << 20).median();
        ModelConfig config = ModelConfig.read(dir);
        List<LayerBenchmark.LayerFigures> figures;
        try (SimdOps ops = new SimdOps(threadCount)) {
            progress(err, "timing " + config.numLayers() + " layer(s) one at a time ...");
            figures = new LayerBenchmark(dir, config, ops, seed).run(settings, bandwidth);
        }
        if (json) {
            ObjectNode root = JSON.createObjectNode();
            root.put("model", dir.toAbsolutePath().toString());
            root.put("modelType", config.modelType());
            root.put("threads", threadCount);
            root.put("bandwidth", bandwidth);
            root.put("context", layerContext);
            root.set("layers", JSON.valueToTree(figures));
            out.println(JSON.writeValueAsString(root));
            return 0;
        }
        out.printf(Locale.ROOT, "model: %s (%s), %d thread(s), read bandwidth %.1f GB/s, context %d%n", dir,
                config.modelType(), threadCount, bandwidth / 1e9, layerContext);
        out.printf(Locale.ROOT, "%5s  %-44s %5s %10s %14s %8s%n", "layer", "type", "batch", "step ms", "MB/token",
                "% bw");
        for (LayerBenchmark.LayerFigures f : figures) {
            out.printf(Locale.ROOT, "%5d  %-44s %5d %10.2f %14.2f %7.1f%%%n", f.layer(), f.kind(), f.batch(),
                    f.stepSeconds() * 1e3, f.bytesPerToken() / 1e6, 100 * f.bandwidthFraction());
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
                                   BenchReport r, Ops ops) {
        BenchReport.Machine m = r.machine();
        out.printf(Locale.ROOT, "model: %s (%s, %.2f GB of weights, %.2f GB read per decoded token)%n", dir,
                config.modelType(), model.weightBytes() / 1e9, r.cost().weightBytesRead() / 1e9);
        if (ops instanceof VulkanOps gpu) {
            out.printf(Locale.ROOT, "device: %s; memory bandwidth ceiling %.1f GB/s (measured copy %.1f); compute "
                    + "peak %s GFLOP/s%n", gpu.device().name(), m.bandwidth() / 1e9, m.bandwidthBest() / 1e9,
                    figure(m.fmaRate() / 1e9));
        } else {
            out.printf(Locale.ROOT, "machine: %d thread(s); read bandwidth %.1f GB/s (best %.1f; 1 thread %.1f); "
                            + "FMA peak %.0f GFLOP/s (best %.0f; 1 thread %.0f)%n", m.threads(), m.bandwidth() / 1e9,
                    m.bandwidthBest() / 1e9, m.bandwidthOneThread() / 1e9, m.fmaRate() / 1e9, m.fmaRateBest() / 1e9,
                    m.fmaRateOneThread() / 1e9);
        }
        out.printf(Locale.ROOT, "%-16s %8s %12s %16s %16s %8s %6s%n", "run", "tokens", "tokens/s", "memory ceiling",
                "compute ceiling", "% ceil", "cpu %");
        for (BenchReport.Row row : r.rows()) {
            out.printf(Locale.ROOT, "%-16s %8d %12.2f %16s %16s %8s %5s%%%n", row.name(), row.tokens(),
                    row.tokensPerSecond(), figure(row.bandwidthCeiling()), figure(row.computeCeiling()),
                    Double.isNaN(row.percentOfCeiling()) ? "-"
                            : String.format(Locale.ROOT, "%.1f%%", row.percentOfCeiling()),
                    Double.isNaN(row.cpuShare()) ? "-" : String.format(Locale.ROOT, "%.0f", 100 * row.cpuShare()));
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

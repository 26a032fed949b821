package ai.parallax.server.serve;

import ai.parallax.kernels.simd.CpuTopology;
import ai.parallax.models.WeightQuantization;
import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.ModelLoader;
import ai.parallax.models.config.ModelConfig;
import ai.parallax.runtime.LocalModel;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.runtime.engine.InferenceEngine;
import ai.parallax.server.api.ApiServer;
import ai.parallax.server.api.ChatPromptFormatter;
import ai.parallax.server.api.ServedModel;
import ai.parallax.server.dashboard.SingleNodeClusterView;
import ai.parallax.tensors.ops.Ops;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Locale;

/**
 * One machine serving one model: the HTTP server (started first, answering 503 while loading), then the model, its
 * paged KV pool and the engine. {@code parallax serve} runs one; tests start one in-process on a free port.
 */
public final class LocalServer implements AutoCloseable {

    /**
     * @param port           0 picks a free port
     * @param kvCacheMemory  bytes ({@code 512MiB}) or a fraction of free memory ({@code 0.25})
     * @param maxContext     the longest sequence served, capped by the model's own limit
     * @param servedName     the model id in the API; null uses the directory name
     */
    public record Options(Path model, String host, int port, String kvCacheMemory, int blockSize,
                          int maxPrefillChunk, int maxRunning, int maxQueue, String apiKey, Path chatTemplate,
                          Integer threads, String servedName, int maxContext, WeightQuantization quantization) {

        /** Options with the weights as stored. */
        public Options(Path model, String host, int port, String kvCacheMemory, int blockSize, int maxPrefillChunk,
                       int maxRunning, int maxQueue, String apiKey, Path chatTemplate, Integer threads,
                       String servedName, int maxContext) {
            this(model, host, port, kvCacheMemory, blockSize, maxPrefillChunk, maxRunning, maxQueue, apiKey,
                    chatTemplate, threads, servedName, maxContext, WeightQuantization.NONE);
        }
    }

    private final ApiServer api;
    private Ops ops;
    private LocalModel local;
    private InferenceEngine engine;

    private LocalServer(ApiServer api) {
        this.api = api;
    }

    /** Starts listening, then loads the model; returns once it serves. */
    public static LocalServer start(Options o, PrintWriter log) {
        ApiServer api = new ApiServer(o.host(), o.port(), o.apiKey()).start();
        LocalServer server = new LocalServer(api);
        SingleNodeClusterView view = new SingleNodeClusterView(o.model(), null, api::model, api.port());
        api.cluster(view);
        try {
            server.load(o, log, view::loadProgress);
        } catch (RuntimeException e) {
            view.failed("loading " + o.model().getFileName() + " failed: " + e.getMessage());
            server.close();
            throw e;
        }
        return server;
    }

    private void load(Options o, PrintWriter log, ai.parallax.models.LoadProgress progress) {
        ops = new SimdOps(o.threads() == null ? CpuTopology.physicalCores() : o.threads());
        ModelConfig config = ModelConfig.read(o.model());
        int context = Math.min(o.maxContext(), config.maxPositionEmbeddings());
        local = LocalModel.open(o.model(), ops, context, progress, o.quantization());
        long perBlock = ModelLoader.kvCacheBytesPerBlock(config, config.numLayers(), o.blockSize());
        long free = freeMemory();
        // Per-sequence state (linear attention's recurrent state, sliding layers' rings) comes out of the budget first.
        long perSequence = ModelLoader.stateBytesPerSequence(config, config.numLayers());
        long bytes = KvCacheSizing.bytes(o.kvCacheMemory(), free) - (long) o.maxRunning() * perSequence;
        if (perSequence > 0) {
            log.printf(Locale.ROOT, "sequence state: %.1f MiB for each of %d running sequences%n",
                    perSequence / 1048576.0, o.maxRunning());
        }
        int blocks = KvCacheSizing.blocks(bytes, perBlock, o.blockSize(), context, o.maxRunning());
        log.printf(Locale.ROOT, "KV cache: %d blocks of %d positions = %d positions, %.1f MiB (--kv-cache-memory %s)%n",
                blocks, o.blockSize(), (long) blocks * o.blockSize(), blocks * perBlock / 1048576.0,
                o.kvCacheMemory());
        EngineConfig engineConfig = new EngineConfig(o.blockSize(), blocks, o.maxPrefillChunk(), o.maxRunning(),
                o.maxQueue());
        engine = local.newEngine(ops, engineConfig);
        ChatPromptFormatter chat = ChatPromptFormatter.forModel(o.model(), local.tokenizer(), o.chatTemplate());
        String id = o.servedName() != null ? o.servedName() : o.model().getFileName().toString();
        api.ready(new ServedModel(id, engine, local.tokenizer(), chat, System.currentTimeMillis() / 1000));
        log.printf(Locale.ROOT, "serving %s on http://%s:%d (context %d, chat template: %s)%n", id, o.host(),
                api.port(), engine.contextLimit(), o.chatTemplate() != null ? o.chatTemplate()
                        : chat.isFallback() ? "fallback (message contents joined by newlines after BOS)" : "the model's");
        log.flush();
    }

    private static long freeMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getFreeMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }

    public int port() {
        return api.port();
    }

    public ApiServer api() {
        return api;
    }

    public InferenceEngine engine() {
        return engine;
    }

    @Override
    public void close() {
        api.close();
        if (engine != null) {
            engine.close();
        }
        if (local != null) {
            local.close();
        }
        if (ops != null) {
            ops.close();
        }
    }
}

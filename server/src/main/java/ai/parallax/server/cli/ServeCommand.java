package ai.parallax.server.cli;

import ai.parallax.models.WeightQuantization;
import ai.parallax.p2p.P2pNode;
import ai.parallax.p2p.mdns.MdnsPeerRouting;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.p2p.rendezvous.RendezvousClient;
import ai.parallax.p2p.rendezvous.RendezvousPoint;
import ai.parallax.p2p.rendezvous.RendezvousRegistration;
import ai.parallax.runtime.engine.EngineConfig;
import ai.parallax.server.api.ApiServer;
import ai.parallax.server.cluster.ClusterScheduler;
import ai.parallax.server.dashboard.ClusterSchedulerView;
import ai.parallax.server.dashboard.ClusterSetupView;
import ai.parallax.server.dashboard.ClusterSizing;
import ai.parallax.server.dashboard.ClusterStatus;
import ai.parallax.server.dashboard.ModelCatalog;
import ai.parallax.server.models.BundledModel;
import ai.parallax.server.serve.KvCacheSizing;
import ai.parallax.server.serve.LocalServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code parallax serve}: an OpenAI-compatible server for one local model, with continuous batching. */
@Command(name = "serve",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Serve a model over an OpenAI-compatible HTTP API (chat completions, completions, models), "
                + "with SSE and WebSocket streaming, /health and Prometheus /metrics.",
        footer = {"", "Example: parallax serve -m ./Qwen3-0.6B --port 3001",
                "         curl localhost:3001/v1/chat/completions -H 'Content-Type: application/json' "
                        + "-d '{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon\"}]}'"})
public final class ServeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "<dir>",
            description = "Model directory in Hugging Face layout. Default: the bundled stories260K.")
    Path model;

    @Option(names = "--models-dir", paramLabel = "<dir>",
            description = "Cluster: a folder of model directories. Without -m, the dashboard's setup page "
                    + "(http://<host>:<port>/) lists them and the scheduler starts for the one chosen there.")
    Path modelsDir;

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "3001", description = "Port to listen on (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--kv-cache-memory", paramLabel = "<size|fraction>", defaultValue = "0.25",
            description = "Memory for the paged KV cache: a size (512MiB, 2GB) or a fraction of the memory free at "
                    + "start (default: ${DEFAULT-VALUE}). Capped at what --max-running full-context sequences use.")
    String kvCacheMemory;

    @Option(names = "--kv-block-size", paramLabel = "<positions>", defaultValue = "16",
            description = "Positions per KV cache block (default: ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(names = "--max-prefill-chunk", paramLabel = "<tokens>", defaultValue = "512",
            description = "Prompt tokens one step runs at most, so long prompts do not stall other users' "
                    + "decoding (default: ${DEFAULT-VALUE}).")
    int maxPrefillChunk;

    @Option(names = "--max-running", paramLabel = "<n>", defaultValue = "64",
            description = "Sequences decoded together at most (default: ${DEFAULT-VALUE}).")
    int maxRunning;

    @Option(names = "--max-queue", paramLabel = "<n>", defaultValue = "256",
            description = "Requests waiting at most; more get HTTP 429 (default: ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-context", paramLabel = "<tokens>", defaultValue = "8192",
            description = "Longest sequence served, capped by the model's own limit (default: ${DEFAULT-VALUE}).")
    int maxContext;

    @Option(names = "--api-key", paramLabel = "<key>",
            description = "Require 'Authorization: Bearer <key>' on every request (except /health).")
    String apiKey;

    @Option(names = "--chat-template", paramLabel = "<file>",
            description = "A Jinja chat template file that replaces the model's own (or the fallback for models "
                    + "without one: BOS, then the message contents joined by newlines).")
    Path chatTemplate;

    @Option(names = "--served-model-name", paramLabel = "<name>",
            description = "The model id clients use. Default: the model directory's name.")
    String servedName;

    @Option(names = "--threads", paramLabel = "<n>", description = "Compute threads. Default: physical cores.")
    Integer threads;

    @Option(names = "--quantize", paramLabel = "<type>", defaultValue = "none",
            description = "Hold linear weights as q8 (int8 in blocks of 32, converted at load and saved beside the "
                    + "model for the next start) or none (default: ${DEFAULT-VALUE}).")
    String quantize;

    @Option(names = "--cluster", description = "Serve as a cluster scheduler that other machines join with "
            + "'parallax join' (implied by -n, --no-local-worker and --p2p-port).")
    boolean cluster;

    @Option(names = {"-n", "--nodes"}, paramLabel = "<n>", defaultValue = "0",
            description = "Cluster: wait for this many nodes (counting this machine's own worker) before allocating. "
                    + "Default: allocate as soon as the model fits.")
    int nodes;

    @Option(names = "--no-local-worker", description = "Cluster: this machine schedules and serves the API but holds no "
            + "layers.")
    boolean noLocalWorker;

    @Option(names = "--p2p-port", paramLabel = "<port>", defaultValue = "-1",
            description = "Cluster: TCP port of the P2P node (default 4001 when clustering; 0 picks a free port).")
    int p2pPort;

    @Option(names = "--memory", paramLabel = "<size>",
            description = "Cluster: memory this machine's worker offers for layers and KV cache (e.g. 8GiB). "
                    + "Default: the free memory.")
    String memory;

    @Option(names = "--kv-blocks", paramLabel = "<n>", defaultValue = "512",
            description = "Cluster: KV cache blocks each stage keeps (default: ${DEFAULT-VALUE}).")
    int kvBlocks;

    @Option(names = "--activation-dtype", paramLabel = "<f32|bf16|q8>", defaultValue = "bf16",
            description = "Cluster: how hidden states travel between stages: f32 (exact), bf16 (half the bytes) or "
                    + "q8 (int8 with a scale per 32 values, about a quarter) (default: ${DEFAULT-VALUE}).")
    String activationDtype;

    @Option(names = "--recovery-timeout", paramLabel = "<seconds>", defaultValue = "60",
            description = "Cluster: how long requests wait for a broken pipeline to be rebuilt before failing with "
                    + "503 (default: ${DEFAULT-VALUE}).")
    int recoveryTimeout;

    @Option(names = "--join-token", paramLabel = "<token>",
            description = "Cluster: use this join token instead of a fresh random one.")
    String joinToken;

    @Option(names = "--identity", paramLabel = "<file>",
            description = "Cluster: the P2P identity key file (created if missing). Default: a fresh identity.")
    Path identity;

    @Option(names = "--bootstrap", paramLabel = "<multiaddr>",
            description = "Cluster: a rendezvous point to register this scheduler at, so that 'parallax join -s "
                    + "<peer-id> --bootstrap <that point>' finds it from another network; repeatable.")
    List<String> bootstrap = new ArrayList<>();

    @Option(names = "--no-mdns", description = "Cluster: do not announce the scheduler on the LAN (mDNS), so "
            + "'parallax join' needs -s.")
    boolean noMdns;

    @Option(names = "--mdns-port", paramLabel = "<port>", defaultValue = "5353", hidden = true,
            description = "Cluster: the mDNS port (tests use another, so they stay apart from the LAN).")
    int mdnsPort;

    @Option(names = "--benchmark-ms", paramLabel = "<ms>", defaultValue = "2000", hidden = true,
            description = "Cluster: length of the hardware micro-benchmark.")
    long benchmarkMillis;

    @Override
    public Integer call() throws Exception {
        if (cluster || nodes > 0 || noLocalWorker || p2pPort >= 0 || modelsDir != null) {
            return serveCluster();
        }
        PrintWriter out = spec.commandLine().getOut();
        if (port < 0 || port > 65535) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--port " + port
                    + " is not a TCP port (0-65535)");
        }
        EngineConfig check = new EngineConfig(blockSize, 1, maxPrefillChunk, maxRunning, maxQueue);
        Path dir = model != null ? InputPaths.modelDirectory(model) : BundledModel.inUserCache().extract();
        LocalServer server = LocalServer.start(new LocalServer.Options(dir, host, port, kvCacheMemory,
                check.blockSize(), maxPrefillChunk, maxRunning, maxQueue, apiKey, chatTemplate, threads,
                servedName(), maxContext, WeightQuantization.parse(quantize)), out);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "parallax-serve-shutdown"));
        stopped.await();
        return 0;
    }

    /** --served-model-name, or "stories260K" for the bundled model (not its cache folder's name). */
    private String servedName() {
        return servedName != null || model != null ? servedName : BundledModel.NAME;
    }

    private int serveCluster() throws InterruptedException {
        PrintWriter out = spec.commandLine().getOut();
        if (modelsDir != null && !java.nio.file.Files.isDirectory(modelsDir)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--models-dir " + modelsDir
                    + " is not a folder");
        }
        ai.parallax.server.cluster.StepFrame.Payload.activation(activationDtype); // validates early
        Long offered = memory == null ? null : KvCacheSizing.bytes(memory, Long.MAX_VALUE);
        java.util.concurrent.atomic.AtomicReference<ClusterScheduler> running =
                new java.util.concurrent.atomic.AtomicReference<>();
        List<Multiaddr> points = new ArrayList<>();
        for (String b : bootstrap) {
            try {
                points.add(Multiaddr.parse(b));
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--bootstrap " + b
                        + " is not a multiaddr: " + e.getMessage());
            }
        }
        List<AutoCloseable> discovery = java.util.Collections.synchronizedList(new ArrayList<>());
        ApiServer api;
        if (model == null && modelsDir != null) {
            // The model is chosen on the setup page; the scheduler starts then, on this API server.
            api = new ApiServer(host, port, apiKey).start();
            api.cluster(new ClusterSetupView(modelsDir, sizing(offered), (choice, events) -> {
                Path dir = modelsDir.resolve(choice.model());
                ClusterScheduler scheduler = ClusterScheduler.start(options(dir, choice.model(), choice.nodes(),
                        offered), out, api);
                running.set(scheduler);
                announce(scheduler, points, discovery, out);
                return view(scheduler, dir, choice.network(), choice.nodes(), events, offered);
            }));
            out.printf("dashboard on http://%s:%d/: choose a model from %s there%n", host, api.port(), modelsDir);
            out.flush();
        } else {
            Path dir = model != null ? InputPaths.modelDirectory(model) : BundledModel.inUserCache().extract();
            ClusterScheduler scheduler = ClusterScheduler.start(options(dir, servedName(), nodes, offered), out);
            running.set(scheduler);
            announce(scheduler, points, discovery, out);
            api = scheduler.api();
            api.cluster(view(scheduler, dir, "lan", Math.max(1, nodes), java.util.List.of(), offered));
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (AutoCloseable d : List.copyOf(discovery)) {
                try {
                    d.close();
                } catch (Exception ignored) {
                    // shutting down anyway
                }
            }
            ClusterScheduler scheduler = running.get();
            if (scheduler != null) {
                scheduler.close();
            } else {
                api.close();
            }
            stopped.countDown();
        }, "parallax-serve-shutdown"));
        stopped.await();
        return 0;
    }

    /**
     * Makes the scheduler findable: it serves /rendezvous/1.0.0 (so nodes can find it, and each other, by peer id),
     * answers mDNS on the LAN (so 'parallax join' works without -s), and registers at the --bootstrap points. A LAN
     * without multicast is no error: nodes then need -s.
     */
    private void announce(ClusterScheduler scheduler, List<Multiaddr> points, List<AutoCloseable> into,
                          PrintWriter out) {
        P2pNode node = scheduler.node();
        RendezvousPoint.serve(node);
        boolean mdnsOn = false;
        if (!noMdns) {
            try {
                MdnsPeerRouting mdns = new MdnsPeerRouting(node, true,
                        ai.parallax.server.cluster.LanDiscovery.group(mdnsPort), null, Duration.ofSeconds(10),
                        Duration.ofSeconds(5));
                node.addRouting(mdns);
                into.add(mdns);
                mdnsOn = true;
            } catch (IOException e) {
                out.println("not announced on the LAN (mDNS failed: " + e.getMessage() + "); nodes need -s to join");
            }
        }
        for (Multiaddr point : points) {
            into.add(RendezvousRegistration.start(node, point, RendezvousClient.PARALLAX_NAMESPACE,
                    Duration.ofHours(2)));
        }
        if (mdnsOn) {
            out.println("announced on the LAN (mDNS): nodes here can join with 'parallax join --token "
                    + scheduler.joinToken() + "'");
        }
        out.printf("peer id %s; rendezvous point on /rendezvous/1.0.0%s; nodes may also name the scheduler by peer "
                + "id alone (join -s %s, found with mDNS or --bootstrap <this address>)%n", node.peerId(),
                points.isEmpty() ? "" : ", registered at " + points, node.peerId());
        out.flush();
    }

    private ClusterScheduler.Options options(Path dir, String name, int minNodes, Long offered) {
        return new ClusterScheduler.Options(dir, host, port, p2pPort < 0 ? 4001 : p2pPort, minNodes,
                !noLocalWorker, offered, blockSize, kvBlocks, maxPrefillChunk, maxRunning, maxQueue, apiKey,
                chatTemplate, threads, name, maxContext, java.time.Duration.ofSeconds(recoveryTimeout),
                activationDtype, identity, joinToken, benchmarkMillis);
    }

    private ClusterSchedulerView view(ClusterScheduler scheduler, Path dir, String network, int expected,
                                      java.util.List<ClusterStatus.Event> events, Long offered) {
        String note = network.equals("public")
                ? "Nodes join over the public network: run this on each machine, with the model files in -m or "
                + "--models-dir. The address must be one the nodes can reach (start serve with --host and "
                + "--p2p-port to choose it)."
                : noMdns ? "Run this on each machine of the LAN, with the model files in -m or --models-dir."
                : "Run this on each machine of the LAN, with the model files in -m or --models-dir; there, -s may "
                + "be left out: the scheduler is announced over mDNS.";
        return new ClusterSchedulerView(scheduler::snapshot, ModelCatalog.describe(dir), modelsDir, sizing(offered),
                network, expected, note, events);
    }

    private ClusterSizing sizing(Long offered) {
        return new ClusterSizing((long) kvBlocks * blockSize, offered, maxRunning);
    }
}

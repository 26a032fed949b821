package ai.parallax.server.cli;

import ai.parallax.server.cluster.ClusterWorker;
import ai.parallax.server.cluster.LanDiscovery;
import ai.parallax.server.serve.KvCacheSizing;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code parallax join}: lend this machine's memory and compute to a cluster started with {@code parallax serve}. */
@Command(name = "join",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Join a Parallax cluster: measure this machine, register with the scheduler, load the layers "
                + "it assigns and serve them until the scheduler goes away.",
        footer = {"", "Example (the command 'parallax serve' prints):",
                "  parallax join -s /ip4/192.168.1.10/tcp/4001/p2p/12D3KooW... --token ABCD... -m ./Qwen3-0.6B"})
public final class JoinCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-s", "--scheduler"}, paramLabel = "<multiaddr>",
            description = "The scheduler's address, /ip4/…/tcp/…/p2p/12D3KooW…, as 'parallax serve' prints it. "
                    + "Default: find it on the LAN (mDNS), as the scheduler that admits --token.")
    String scheduler;

    @Option(names = "--discovery-seconds", paramLabel = "<s>", defaultValue = "3",
            description = "Without -s: how long to listen for schedulers on the LAN (default: ${DEFAULT-VALUE}).")
    int discoverySeconds;

    @Option(names = "--mdns-port", paramLabel = "<port>", defaultValue = "5353", hidden = true,
            description = "The mDNS port (tests use another, so they stay apart from the LAN).")
    int mdnsPort;

    @Option(names = "--token", paramLabel = "<token>", description = "The cluster's join token.")
    String token;

    @Option(names = {"-m", "--model"}, paramLabel = "<dir>",
            description = "This machine's copy of the cluster's model directory.")
    Path model;

    @Option(names = "--models-dir", paramLabel = "<dir>",
            description = "A folder holding model directories by name; the cluster's model is looked up in it.")
    Path modelsDir;

    @Option(names = "--host", defaultValue = "0.0.0.0", description = "Address the P2P node listens on.")
    String host;

    @Option(names = "--p2p-port", defaultValue = "0", description = "P2P port (default: a free one).")
    int p2pPort;

    @Option(names = "--memory", paramLabel = "<size>",
            description = "Memory offered for layers and KV cache (e.g. 8GiB). Default: the free memory.")
    String memory;

    @Option(names = "--threads", paramLabel = "<n>", description = "Compute threads. Default: one per processor.")
    Integer threads;

    @Option(names = "--device", paramLabel = "<cpu|vulkan|auto>", defaultValue = "cpu",
            description = "Where this node's kernels run: cpu (Vector API), vulkan (the best Vulkan device) or auto "
                    + "(a discrete GPU when present, else cpu). A GPU node offers its device memory. "
                    + "Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--identity", paramLabel = "<file>",
            description = "The P2P identity key file (created if missing). Default: a fresh identity.")
    Path identity;

    @Option(names = "--benchmark-ms", paramLabel = "<ms>", defaultValue = "2000", hidden = true,
            description = "Length of the hardware micro-benchmark.")
    long benchmarkMillis;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Long offered = memory == null ? null : KvCacheSizing.bytes(memory, Long.MAX_VALUE);
        String address = scheduler;
        if (address == null) {
            out.printf("no -s: looking for the scheduler on the LAN (mDNS) for %d s%n", discoverySeconds);
            out.flush();
            address = LanDiscovery.findScheduler(mdnsPort, java.time.Duration.ofSeconds(discoverySeconds), token, out);
        }
        try (ClusterWorker worker = ClusterWorker.join(new ClusterWorker.Options(address, token, model, modelsDir,
                host, p2pPort, offered, threads, identity, benchmarkMillis), Backends.open(device, threads), out)) {
            Runtime.getRuntime().addShutdownHook(new Thread(worker::close, "parallax-join-shutdown"));
            worker.schedulerGone().join();
            out.println("the scheduler is gone and did not come back; leaving the cluster");
            out.flush();
            return 1;
        }
    }
}

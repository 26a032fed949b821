package ai.parallax.server.cli;

import ai.parallax.p2p.P2pException;
import ai.parallax.p2p.PeerLocator;
import ai.parallax.p2p.identity.PeerId;
import ai.parallax.p2p.multiformats.Multiaddr;
import ai.parallax.server.UserError;
import ai.parallax.server.cluster.ClusterWorker;
import ai.parallax.server.cluster.LanDiscovery;
import ai.parallax.server.serve.KvCacheSizing;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code parallax join}: lend this machine's memory and compute to a cluster started with {@code parallax serve}. */
@Command(name = "join",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Join a Parallax cluster: measure this machine, register with the scheduler, load the layers "
                + "it assigns and serve them until the scheduler goes away.",
        footer = {"", "Example (the command 'parallax serve' prints):",
                "  parallax join -s /ip4/192.168.1.10/tcp/4001/p2p/12D3KooW... --token ABCD... -m ./Qwen3-0.6B",
                "By peer id alone, found on the LAN (mDNS) or through a rendezvous point:",
                "  parallax join -s 12D3KooW... --bootstrap /ip4/203.0.113.7/tcp/4001 --token ABCD... -m ./Qwen3-0.6B",
                "On the LAN, with no -s: the scheduler that answers mDNS."})
public final class JoinCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"-s", "--scheduler"}, paramLabel = "<multiaddr|peer-id>",
            description = "The scheduler: its address /ip4/…/tcp/…/p2p/12D3KooW… as 'parallax serve' prints it, or its "
                    + "bare peer id 12D3KooW…, looked up with mDNS on the LAN and at the --bootstrap points. "
                    + "Default: the scheduler that answers mDNS on the LAN.")
    String scheduler;

    @Option(names = "--bootstrap", paramLabel = "<multiaddr>",
            description = "A rendezvous point (/rendezvous/1.0.0) to ask where the scheduler's peer id listens; "
                    + "repeatable. The scheduler is one itself, and so is any 'parallax serve' started with --cluster.")
    List<String> bootstrap = new ArrayList<>();

    @Option(names = "--no-mdns", description = "Do not look for the scheduler on the LAN with mDNS.")
    boolean noMdns;

    @Option(names = {"--discovery-timeout", "--discovery-seconds"}, paramLabel = "<seconds>", defaultValue = "5",
            description = "How long to look for the scheduler by peer id, or to listen for schedulers on the LAN "
                    + "when -s is left out (default: ${DEFAULT-VALUE}).")
    int discoverySeconds;

    @Option(names = "--mdns-port", paramLabel = "<port>", defaultValue = "5353", hidden = true,
            description = "The mDNS port when -s is left out (tests use another, so they stay apart from the LAN).")
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
        String schedulerAddress = resolveScheduler(out);
        try (ClusterWorker worker = ClusterWorker.join(new ClusterWorker.Options(schedulerAddress, token, model,
                modelsDir, host, p2pPort, offered, threads, identity, benchmarkMillis), Backends.open(device, threads),
                out)) {
            Runtime.getRuntime().addShutdownHook(new Thread(worker::close, "parallax-join-shutdown"));
            worker.schedulerGone().join();
            out.println("the scheduler is gone and did not come back; leaving the cluster");
            out.flush();
            return 1;
        }
    }

    /**
     * The scheduler's full multiaddr: -s as given if it is one; else its bare peer id looked up through mDNS and the
     * bootstrap rendezvous points; else, with no -s, the scheduler that answers mDNS on the LAN (the peer serving the
     * cluster's admission protocol). Lookups dial the peer, so the address returned has proved its id.
     */
    private String resolveScheduler(PrintWriter out) {
        if (scheduler != null && scheduler.startsWith("/")) {
            return scheduler; // a multiaddr: ClusterWorker parses and dials it
        }
        List<Multiaddr> points = new ArrayList<>();
        for (String b : bootstrap) {
            try {
                points.add(Multiaddr.parse(b));
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--bootstrap " + b + " is not a multiaddr: "
                        + e.getMessage());
            }
        }
        Duration timeout = Duration.ofSeconds(discoverySeconds);
        try {
            Multiaddr found;
            if (scheduler == null) {
                if (noMdns) {
                    throw new ParameterException(spec.commandLine(), "join needs -s (the scheduler's multiaddr or "
                            + "peer id) when mDNS is off");
                }
                // Any libp2p peer may answer mDNS: the scheduler is the one that admits this cluster's token.
                out.printf("no -s: looking for the scheduler on the LAN (mDNS) for %d s%n", discoverySeconds);
                out.flush();
                return LanDiscovery.findScheduler(mdnsPort, timeout, token, out);
            } else {
                PeerId id;
                try {
                    id = PeerId.parse(scheduler);
                } catch (IllegalArgumentException e) {
                    throw new ParameterException(spec.commandLine(), "-s " + scheduler + " is neither a multiaddr "
                            + "(/ip4/…/tcp/…/p2p/…) nor a peer id: " + e.getMessage());
                }
                List<String> where = new ArrayList<>();
                if (!noMdns) {
                    where.add("mDNS on the LAN");
                }
                if (!points.isEmpty()) {
                    where.add("rendezvous at " + points);
                }
                out.printf("looking for scheduler %s (%s, up to %d s)%n", id, String.join(" and ", where),
                        discoverySeconds);
                out.flush();
                found = PeerLocator.locate(id, points, !noMdns, timeout);
            }
            out.printf("found the scheduler at %s%n", found);
            out.flush();
            return found.toString();
        } catch (P2pException e) {
            // Only the peer-id lookup throws this (without -s, LanDiscovery says what to do itself).
            throw new UserError(e.getMessage() + (bootstrap.isEmpty()
                    ? "; if the scheduler is not on this LAN, add --bootstrap <its multiaddr>" : ""));
        }
    }
}

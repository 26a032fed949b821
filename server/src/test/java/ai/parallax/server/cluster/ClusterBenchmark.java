package ai.parallax.server.cluster;

import ai.parallax.models.synthetic.ModelShape;
import ai.parallax.models.synthetic.SyntheticCheckpoint;
import ai.parallax.tensors.ops.BatchLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static ai.parallax.server.cluster.ClusterProcesses.model;
import static ai.parallax.server.cluster.ClusterProcesses.text;

/**
 * The cluster's figures, with real processes on loopback. Not part of the test run (it takes minutes); run it with
 * <pre>
 * ./dev mvn -q -B -pl server -am test -Dtest=ClusterBenchmark -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Dparallax.bench.cluster=true
 * </pre>
 * and read the table it prints:
 * <ol>
 *   <li>the added per-token latency of each extra hop: stories260K (compute is negligible, so the time is the
 *       network's) decoded through pipelines of 1 to 4 stages, the scheduler holding no layers (a pipeline of n
 *       stages crosses n + 1 links per token);</li>
 *   <li>the bytes a decode step of one token sends over one hop, per activation dtype, from the wire encoding
 *       (the transport adds a varint length, a 12-byte Yamux header and a 16-byte Noise tag to each);</li>
 *   <li>the aggregate throughput of 1 pipeline over 2 processes and of 2 pipelines over 4 processes, on a
 *       synthetic model large enough that compute, not the network, dominates: the third of three rounds, when
 *       the kernels are compiled, and the first, while the JIT still compiles them.</li>
 * </ol>
 */
@EnabledIfSystemProperty(named = "parallax.bench.cluster", matches = "true")
class ClusterBenchmark {

    @Test
    void clusterFigures(@TempDir Path tmp) throws Exception {
        StringBuilder table = new StringBuilder();
        hopLatency(tmp, table);
        bytesPerHop(table);
        throughput(tmp, table);
        System.out.println("\n" + table);
    }

    /**
     * The transport alone: two P2P nodes in this JVM pass a decode step's frame (hidden 64, bf16) back and forth
     * over activation links, so half a round trip is what one hop costs without any compute or engine.
     */
    @Test
    void transportHop() throws Exception {
        ai.parallax.p2p.P2pNode a = new ai.parallax.p2p.P2pNode(ai.parallax.p2p.identity.IdentityKeyPair.generate(),
                ai.parallax.p2p.P2pNode.Options.defaults().withHost("127.0.0.1").withPort(0));
        ai.parallax.p2p.P2pNode b = new ai.parallax.p2p.P2pNode(ai.parallax.p2p.identity.IdentityKeyPair.generate(),
                ai.parallax.p2p.P2pNode.Options.defaults().withHost("127.0.0.1").withPort(0));
        try {
            java.util.concurrent.atomic.AtomicReference<java.util.concurrent.CompletableFuture<StepFrame>> back =
                    new java.util.concurrent.atomic.AtomicReference<>();
            ActivationLink[] reply = new ActivationLink[1];
            ActivationLink.serve(a, (peer, frame) -> back.get().complete(frame));
            ActivationLink.serve(b, (peer, frame) -> reply[0].send(frame));
            a.start();
            b.start();
            a.dial(b.listenAddrs().getFirst()).get(10, TimeUnit.SECONDS);
            ActivationLink out = ActivationLink.open(a, b.peerId(), (p, f) -> { }, java.time.Duration.ofSeconds(10));
            reply[0] = ActivationLink.open(b, a.peerId(), (p, f) -> { }, java.time.Duration.ofSeconds(10));
            BatchLayout layout = new BatchLayout(16);
            layout.add(100, 1, new int[] {0, 1, 2, 3, 4, 5, 6});
            StepFrame frame = StepFrame.tokens(1, 1, layout, new int[] {42}, new int[] {0})
                    .withHidden(StepFrame.Payload.BF16, new float[64], 64);
            double[] micros = new double[2000];
            for (int i = 0; i < micros.length; i++) {
                back.set(new java.util.concurrent.CompletableFuture<>());
                long start = System.nanoTime();
                out.send(frame);
                back.get().get(10, TimeUnit.SECONDS);
                micros[i] = (System.nanoTime() - start) / 1e3;
            }
            double[] measured = java.util.Arrays.copyOfRange(micros, 500, micros.length); // after warm-up
            java.util.Arrays.sort(measured);
            System.out.printf(Locale.ROOT, "%ntransport, one hop (half a round trip, %d samples): median %.0f µs, "
                    + "p90 %.0f µs%n", measured.length, measured[measured.length / 2] / 2,
                    measured[measured.length * 9 / 10] / 2);
        } finally {
            a.close();
            b.close();
        }
    }

    private static void hopLatency(Path tmp, StringBuilder table) throws Exception {
        Path model = model("stories260K");
        // Memory per node that makes exactly n nodes necessary for 5 layers of ~434 KiB: capacities 5; 3+2; 2+2+1;
        // 2+1+1+1 layers.
        String[][] memories = {{"3000KiB"}, {"1500KiB", "1100KiB"}, {"1000KiB", "1000KiB", "600KiB"},
                {"1000KiB", "600KiB", "600KiB", "600KiB"}};
        table.append("per-token decode latency, stories260K, 1 stream of 200 tokens (median of 3 runs):\n");
        double previous = Double.NaN;
        for (String[] nodes : memories) {
            Path dir = tmp.resolve("hops-" + nodes.length);
            java.nio.file.Files.createDirectories(dir);
            try (ClusterProcesses cluster = new ClusterProcesses(dir)) {
                cluster.serve(model, "--no-local-worker", "-n", Integer.toString(nodes.length), "--activation-dtype",
                        "bf16");
                for (int i = 0; i < nodes.length; i++) {
                    cluster.join("n" + i, "-m", model.toString(), "--memory", nodes[i]);
                }
                cluster.awaitReady(1);
                String allocation = ClusterProcesses.read(cluster.schedulerLog).lines()
                        .filter(l -> l.contains("pipeline ready")).findFirst().orElseThrow();
                text(cluster.complete(cluster.apiPort, "stories260K", "Once upon a time", 200, true)); // warm-up
                List<Double> runs = new ArrayList<>();
                for (int run = 0; run < 3; run++) {
                    ClusterProcesses.Stream s = cluster.stream(cluster.apiPort, "stories260K", "Once upon a time",
                            200);
                    long first = 0;
                    while (s.pieces.get() < 1) {
                        Thread.sleep(0, 200_000);
                    }
                    first = System.nanoTime();
                    int firstPieces = s.pieces.get();
                    s.finish.get(120, TimeUnit.SECONDS);
                    long last = System.nanoTime();
                    runs.add((last - first) / 1e6 / Math.max(1, s.pieces.get() - firstPieces));
                }
                runs.sort(Double::compare);
                double ms = runs.get(1);
                table.append(String.format(Locale.ROOT, "  %d stage%s (%d links): %.3f ms/token%s   [%s]%n",
                        nodes.length, nodes.length == 1 ? " " : "s", nodes.length + 1, ms,
                        Double.isNaN(previous) ? "" : String.format(Locale.ROOT, ", +%.3f ms for the extra hop",
                                ms - previous), allocation.replaceAll(".*\\((.*)\\).*", "$1")));
                previous = ms;
            }
        }
    }

    private static void bytesPerHop(StringBuilder table) {
        table.append("bytes per decode token per hop (one sequence at position 100, block size 16):\n");
        for (int hidden : new int[] {64, 2048, 4096}) {
            BatchLayout layout = new BatchLayout(16);
            layout.add(100, 1, new int[] {0, 1, 2, 3, 4, 5, 6});
            StepFrame step = StepFrame.tokens(1, 1, layout, new int[] {42}, new int[] {0});
            float[] values = new float[hidden];
            table.append(String.format(Locale.ROOT, "  hidden %4d:", hidden));
            for (StepFrame.Payload dtype : List.of(StepFrame.Payload.F32, StepFrame.Payload.BF16,
                    StepFrame.Payload.Q8)) {
                table.append(String.format(Locale.ROOT, "  %s %d B", dtype.name().toLowerCase(Locale.ROOT),
                        step.withHidden(dtype, values, hidden).encode().length));
            }
            table.append('\n');
        }
    }

    private static void throughput(Path tmp, StringBuilder table) throws Exception {
        // A Llama of 8 layers, hidden 1024 (about 180 MB in bf16): a decode step costs milliseconds of compute.
        ModelShape shape = new ModelShape("bench-1024x8", "llama", "stories260K", 1024, 2816, 8, 16, 4, 64, 512,
                10000.0, null, 2048, 1e-5, true, 1, 2, 0, 0, 0);
        Path model = tmp.resolve("bench-1024x8");
        new SyntheticCheckpoint(shape, SyntheticCheckpoint.WeightFormat.parse("bf16"), 1).write(model,
                model("stories260K"), SyntheticCheckpoint.DEFAULT_MAX_SHARD_BYTES, (done, total) -> { });
        table.append("aggregate throughput, synthetic llama hidden 1024 × 8 layers (bf16), 16 requests × 64 tokens:\n");
        for (int processes : new int[] {2, 4}) {
            Path dir = tmp.resolve("throughput-" + processes);
            java.nio.file.Files.createDirectories(dir);
            try (ClusterProcesses cluster = new ClusterProcesses(dir)) {
                // 130 MiB holds about 5 of the 8 layers: 2 nodes make one pipeline, 4 make two.
                cluster.serve(model, "--no-local-worker", "-n", Integer.toString(processes));
                for (int i = 0; i < processes; i++) {
                    cluster.join("n" + i, "-m", model.toString(), "--memory", "130MiB");
                }
                cluster.awaitReady(1);
                String allocation = ClusterProcesses.read(cluster.schedulerLog).lines()
                        .filter(l -> l.contains("pipeline ready")).findFirst().orElseThrow();
                text(cluster.complete(cluster.apiPort, "bench-1024x8", "Once upon a time", 16, true)); // warm-up
                // Three rounds of the same load: the first runs while the JIT compiles the kernels (a cold node),
                // the third on compiled code (a node that has served for a while).
                double[] rates = new double[3];
                ExecutorService clients = Executors.newFixedThreadPool(16);
                try {
                    for (int round = 0; round < rates.length; round++) {
                        long start = System.nanoTime();
                        List<Future<String>> answers = new ArrayList<>();
                        for (int i = 0; i < 16; i++) {
                            answers.add(clients.submit(() -> text(cluster.complete(cluster.apiPort, "bench-1024x8",
                                    "Once upon a time", 64, true))));
                        }
                        for (Future<String> a : answers) {
                            a.get(600, TimeUnit.SECONDS);
                        }
                        rates[round] = 16 * 64 / ((System.nanoTime() - start) / 1e9);
                    }
                    table.append(String.format(Locale.ROOT,
                            "  %d processes: %.1f tokens/s (first round, JIT compiling: %.1f)   [%s]%n", processes,
                            rates[2], rates[0], allocation.replaceAll(".*\\((.*)\\).*", "$1")));
                } finally {
                    clients.shutdownNow();
                }
            }
        }
    }
}

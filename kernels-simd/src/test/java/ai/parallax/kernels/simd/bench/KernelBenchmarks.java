package ai.parallax.kernels.simd.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the kernel benchmarks ({@code ./dev bench}) and prints each result next to the machine's ceiling: weight
 * streaming in GB/s against the measured 2-thread read bandwidth, batched matmul in GFLOP/s against the measured
 * 2-thread FMA peak.
 */
public final class KernelBenchmarks {
    private static final String[] JVM_ARGS = {"--add-modules", "jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "-Xmx2g"};

    private KernelBenchmarks() {
    }

    public static void main(String[] args) throws RunnerException {
        String loadBefore = loadAverage();
        Collection<RunResult> ceilings = new Runner(options()
                .include(MemoryBenchmark.class.getName() + ".*")
                .build()).run();
        Collection<RunResult> matvec = new Runner(options()
                .include(MatmulBenchmark.class.getName() + ".*")
                .param("dtype", "BF16", "F16", "F32")
                .param("shape", "2048x8192", "8192x2048")
                .param("tokens", "1")
                .build()).run();
        Collection<RunResult> batched = new Runner(options()
                .include(MatmulBenchmark.class.getName() + ".*")
                .param("dtype", "BF16")
                .param("shape", "2048x8192", "8192x2048")
                .param("tokens", "8", "32")
                .build()).run();

        double bandwidth1 = 0;
        double bandwidth2 = 0;
        double fma1 = 0;
        double fma2 = 0;
        for (RunResult r : ceilings) {
            String method = r.getParams().getBenchmark();
            double opsPerSecond = r.getPrimaryResult().getScore();
            if (method.endsWith("streamRead1Thread")) {
                bandwidth1 = opsPerSecond * MemoryBenchmark.BUFFER_BYTES / 1e9;
            } else if (method.endsWith("streamRead2Threads")) {
                bandwidth2 = opsPerSecond * (MemoryBenchmark.BUFFER_BYTES / 2) / 1e9;
            } else if (method.endsWith("fmaPeak1Thread")) {
                fma1 = opsPerSecond * MemoryBenchmark.flopsPerFmaCall() / 1e9;
            } else if (method.endsWith("fmaPeak2Threads")) {
                fma2 = opsPerSecond * MemoryBenchmark.flopsPerFmaCall() / 1e9;
            }
        }

        List<String> rows = new ArrayList<>();
        rows.add(row("stream read", "1 GiB, 1 thread", bandwidth1, "GB/s", bandwidth1));
        rows.add(row("stream read", "1 GiB, 2 threads", bandwidth2, "GB/s", bandwidth2));
        rows.add(row("FMA peak", "registers, 1 thread", fma1, "GFLOP/s", fma1));
        rows.add(row("FMA peak", "registers, 2 threads", fma2, "GFLOP/s", fma2));
        for (RunResult r : matvec) {
            String dtype = r.getParams().getParam("dtype");
            String shape = r.getParams().getParam("shape");
            long[] nk = dims(shape);
            int bytesPerWeight = dtype.equals("F32") ? 4 : 2;
            double seconds = 1 / r.getPrimaryResult().getScore();
            double gbPerSecond = nk[0] * nk[1] * bytesPerWeight / seconds / 1e9;
            rows.add(row("matvec " + dtype, shape + ", T=1, 2 threads", gbPerSecond, "GB/s", bandwidth2)
                    + String.format("  (%.1f GFLOP/s, %.0f us)", 2.0 * nk[0] * nk[1] / seconds / 1e9, seconds * 1e6));
        }
        for (RunResult r : batched) {
            String shape = r.getParams().getParam("shape");
            int tokens = Integer.parseInt(r.getParams().getParam("tokens"));
            long[] nk = dims(shape);
            double seconds = 1 / r.getPrimaryResult().getScore();
            double gflops = 2.0 * nk[0] * nk[1] * tokens / seconds / 1e9;
            rows.add(row("matmul BF16", shape + ", T=" + tokens + ", 2 threads", gflops, "GFLOP/s", fma2)
                    + String.format("  (%.0f us)", seconds * 1e6));
        }
        System.out.println();
        System.out.printf("%-13s %-30s %10s %-8s %10s %7s%n", "op", "shape", "result", "unit", "ceiling", "%");
        rows.forEach(System.out::println);
        System.out.println("Ceilings are this machine's measured 2-thread read bandwidth and FMA peak; on a shared"
                + " machine every number is noisy.");
        System.out.println("Load average before: " + loadBefore + "; after: " + loadAverage() + " ("
                + Runtime.getRuntime().availableProcessors() + " processors)");
    }

    private static ChainedOptionsBuilder options() {
        return new OptionsBuilder()
                .forks(1)
                .warmupIterations(3)
                .warmupTime(TimeValue.seconds(1))
                .measurementIterations(5)
                .measurementTime(TimeValue.seconds(1))
                .jvmArgsAppend(JVM_ARGS)
                .shouldFailOnError(true);
    }

    /** The 1, 5 and 15 minute load averages (Linux), to judge how much other work disturbed the numbers. */
    private static String loadAverage() {
        try {
            String[] fields = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return fields[0] + " " + fields[1] + " " + fields[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static long[] dims(String shape) {
        String[] nk = shape.split("x");
        return new long[] {Long.parseLong(nk[0]), Long.parseLong(nk[1])};
    }

    private static String row(String op, String shape, double value, String unit, double ceiling) {
        return String.format("%-13s %-30s %10.1f %-8s %10.1f %6.0f%%", op, shape, value, unit, ceiling,
                100 * value / ceiling);
    }
}

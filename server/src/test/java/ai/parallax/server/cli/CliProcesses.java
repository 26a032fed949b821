package ai.parallax.server.cli;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * {@code parallax} commands as real processes, started from the test class path, each logging to its own file;
 * closing stops them all. For tests that need processes of their own ({@code serve}, {@code join}), not threads.
 */
public final class CliProcesses implements AutoCloseable {
    private final Path logs;
    private final List<Process> processes = new ArrayList<>();

    /** @param logs where each process's output goes, as {@code <name>.log} */
    public CliProcesses(Path logs) throws IOException {
        this.logs = Files.createDirectories(logs);
    }

    /** Starts {@code parallax <args>} with its output in {@code <name>.log}. */
    public Process start(String name, String... args) throws IOException {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "--add-modules", "jdk.incubator.vector", "-Xmx256m", "-cp", classPath,
                ParallaxCli.class.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log(name).toFile()).start();
        processes.add(p);
        return p;
    }

    public Path log(String name) {
        return logs.resolve(name + ".log");
    }

    /** The process's output so far, or "" before it wrote any. */
    public String read(String name) {
        try {
            return Files.exists(log(name)) ? Files.readString(log(name)) : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits until {@code condition} holds; fails naming {@code what} and showing the log of {@code name}. */
    public void await(BooleanSupplier condition, int seconds, String what, String name) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + seconds + " s waiting for " + what + "; " + name
                        + ".log:\n" + read(name));
            }
            Thread.sleep(50);
        }
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws InterruptedException {
        for (Process p : processes) {
            p.destroy();
        }
        for (Process p : processes) {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}

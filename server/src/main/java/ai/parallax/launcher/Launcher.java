package ai.parallax.launcher;

import java.lang.management.ManagementFactory;
import java.lang.module.ModuleFinder;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Entry point of {@code parallax.jar}: makes {@code java -jar parallax.jar …} work whatever {@code java} the user has.
 *
 * <p>Parallax needs Java 25 with {@code --add-modules jdk.incubator.vector}, and {@code java -jar} ignores an
 * {@code Add-Modules} manifest entry. So this class, compiled for Java 17 so that an older default {@code java} can
 * at least load it, checks the running JVM and either calls the real main directly or re-executes the jar on a
 * JDK 25 with the required flags. It names the real main only as a string: loading a class compiled for 25 on an
 * older JVM would fail with {@link UnsupportedClassVersionError} before any helpful message could be printed.
 */
public final class Launcher {

    static final String MAIN_CLASS = "ai.parallax.server.cli.ParallaxCli";
    static final String VECTOR_MODULE = "jdk.incubator.vector";
    static final int REQUIRED_FEATURE = 25;

    /** Set on the re-executed JVM, so that a JDK that still lacks the vector module fails instead of looping. */
    static final String RELAUNCHED_PROPERTY = "parallax.launcher.relaunched";

    /** The launcher's pid, given to the re-executed JVM so that it stops when the launcher is gone. */
    static final String LAUNCHER_PID_PROPERTY = "parallax.launcher.pid";

    /** The flags a plain {@code java -jar} cannot supply. */
    static final List<String> REQUIRED_JVM_FLAGS = List.of(
            "--add-modules", VECTOR_MODULE,
            "--enable-native-access=ALL-UNNAMED",
            // LWJGL still uses sun.misc.Unsafe memory access; without this JDK 25 prints a warning on first use.
            "--sun-misc-unsafe-memory-access=allow");

    private Launcher() {
    }

    public static void main(String[] args) throws Throwable {
        boolean javaIsNewEnough = Runtime.version().feature() >= REQUIRED_FEATURE;
        if (javaIsNewEnough && ModuleLayer.boot().findModule(VECTOR_MODULE).isPresent()) {
            if (Boolean.getBoolean(RELAUNCHED_PROPERTY)) {
                exitWithTheLauncher();
            }
            invokeRealMain(args);
            return;
        }
        if (Boolean.getBoolean(RELAUNCHED_PROPERTY)) {
            System.err.println("error: relaunched on " + System.getProperty("java.home")
                    + " with --add-modules " + VECTOR_MODULE + " but the module is still missing");
            System.exit(1);
        }
        Path java;
        if (javaIsNewEnough && ModuleFinder.ofSystem().find(VECTOR_MODULE).isPresent()) {
            java = currentJavaBinary();
        } else {
            JdkLocator locator = JdkLocator.forThisMachine();
            Optional<Path> jdk = locator.find();
            if (jdk.isEmpty()) {
                System.err.println("error: Parallax needs a JDK " + REQUIRED_FEATURE + " (this java is "
                        + System.getProperty("java.version") + " at " + System.getProperty("java.home")
                        + "); none found in " + locator.describeSearchPath()
                        + ". Install one (e.g. Temurin 25) or set PARALLAX_JAVA_HOME.");
                System.exit(1);
            }
            java = JdkLocator.javaBinary(jdk.get());
        }
        System.exit(relaunch(java, args));
    }

    /**
     * In the re-executed JVM: stop when the launcher process is gone. Its shutdown hook stops us when it is stopped
     * with a signal it can handle, but {@code kill -9} runs no hook, and a node left running without its launcher
     * would keep serving (and holding its port) with nobody able to stop it by the pid the user knows. Exiting runs
     * our own shutdown hooks, so a cluster node still leaves cleanly.
     */
    private static void exitWithTheLauncher() {
        String pid = System.getProperty(LAUNCHER_PID_PROPERTY);
        if (pid == null) {
            return;
        }
        // By pid, not parent(): a launcher killed while this JVM starts leaves it re-parented to init.
        Optional<ProcessHandle> launcher = ProcessHandle.of(Long.parseLong(pid));
        CompletableFuture<ProcessHandle> gone = launcher.map(ProcessHandle::onExit)
                .orElseGet(() -> CompletableFuture.completedFuture(null));
        gone.thenRun(() -> {
            System.err.println("parallax: the launcher process (pid " + pid + ") is gone; stopping");
            System.exit(137);
        });
    }

    private static void invokeRealMain(String[] args) throws Throwable {
        Method main = Class.forName(MAIN_CLASS).getMethod("main", String[].class);
        try {
            main.invoke(null, (Object) args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private static Path currentJavaBinary() {
        return ProcessHandle.current().info().command().map(Path::of)
                .filter(Files::isExecutable)
                .orElseGet(() -> JdkLocator.javaBinary(Path.of(System.getProperty("java.home"))));
    }

    /** Runs this jar again on {@code java} with the required flags and returns the child's exit code. */
    static int relaunch(Path java, String[] args) throws Exception {
        List<String> command = relaunchCommand(java, inheritedJvmArguments(), System.getProperty("java.class.path"),
                args);
        Process child = new ProcessBuilder(command).inheritIO().start();
        // Ctrl-C reaches the child too (same process group), but a plain `kill` of this process would not:
        // take the child down with us rather than leave it running unattended.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(child), "parallax-child-reaper"));
        return child.waitFor();
    }

    static List<String> relaunchCommand(Path java, List<String> jvmArguments, String classPath, String[] args) {
        List<String> command = new ArrayList<>();
        command.add(java.toString());
        command.addAll(REQUIRED_JVM_FLAGS);
        command.addAll(jvmArguments);
        command.add("-D" + RELAUNCHED_PROPERTY + "=true");
        command.add("-D" + LAUNCHER_PID_PROPERTY + "=" + ProcessHandle.current().pid());
        command.add("-cp");
        command.add(classPath);
        command.add(Launcher.class.getName());
        command.addAll(Arrays.asList(args));
        return command;
    }

    /**
     * The JVM options the user gave this process ({@code -Xmx}, {@code -D…}), minus those that came from
     * {@code JAVA_TOOL_OPTIONS} and {@code JDK_JAVA_OPTIONS}: the child inherits the environment and reads those
     * again, and a duplicated {@code -agentlib:jdwp} would fail on the already bound port.
     */
    static List<String> inheritedJvmArguments() {
        List<String> arguments = new ArrayList<>(ManagementFactory.getRuntimeMXBean().getInputArguments());
        for (String variable : List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
            String value = System.getenv(variable);
            if (value != null) {
                for (String token : value.trim().split("\\s+")) {
                    arguments.remove(token);
                }
            }
        }
        return arguments;
    }

    private static void stop(Process child) {
        if (!child.isAlive()) {
            return;
        }
        child.destroy();
        try {
            if (!child.waitFor(5, TimeUnit.SECONDS)) {
                child.destroyForcibly();
            }
        } catch (InterruptedException e) {
            child.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}

package ai.parallax.launcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the launcher in real child JVMs, started the way {@code java -jar parallax.jar} would start it. */
class LauncherTest {

    static final Path JDK25_JAVA = Path.of(System.getProperty("java.home"), "bin", "java");
    static final String CLASS_PATH = System.getProperty("java.class.path");
    static final String VERSION_LINE = "parallax " + System.getProperty("parallax.expectedVersion");

    record Result(int exitCode, String out, String err) {
        /** stderr without the JDK's unavoidable incubator notice. */
        List<String> errLines() {
            return err.lines().filter(line -> !line.startsWith("WARNING: Using incubator modules")).toList();
        }
    }

    @Test
    void jdk25WithoutTheFlagsRelaunchesItselfWithTheVectorModule(@TempDir Path temp) throws Exception {
        Result result = launch(temp, JDK25_JAVA, List.of(), "--version");

        assertThat(result.exitCode()).isZero();
        assertThat(result.out()).startsWith(VERSION_LINE + "\n");
        assertThat(result.errLines()).isEmpty();
    }

    @Test
    void theChildsExitCodeAndErrorLineComeThrough(@TempDir Path temp) throws Exception {
        Result usage = launch(temp, JDK25_JAVA, List.of(), "generate", "--bogus");
        Result failure = launch(temp, JDK25_JAVA, List.of(), "generate", "-m", "/no/such/model");

        assertThat(usage.exitCode()).isEqualTo(2);
        assertThat(usage.errLines()).containsExactly("error: Unknown option: '--bogus' (see 'parallax generate --help')");
        assertThat(failure.exitCode()).isEqualTo(1);
        assertThat(failure.errLines()).containsExactly("error: model directory not found: /no/such/model");
    }

    @Test
    void jvmWithTheModuleRunsTheCliInProcess(@TempDir Path temp) throws Exception {
        // With the flags present there is no child: the relaunch marker property makes a relaunch impossible.
        Result result = launch(temp, JDK25_JAVA, List.of("--add-modules", "jdk.incubator.vector",
                "-D" + Launcher.RELAUNCHED_PROPERTY + "=true"), "--version");

        assertThat(result.exitCode()).isZero();
        assertThat(result.out()).startsWith(VERSION_LINE + "\n");
    }

    @Test
    void relaunchedJvmStillWithoutTheModuleFailsInsteadOfLooping(@TempDir Path temp) throws Exception {
        Result result = launch(temp, JDK25_JAVA, List.of("-D" + Launcher.RELAUNCHED_PROPERTY + "=true"), "--version");

        assertThat(result.exitCode()).isEqualTo(1);
        assertThat(result.errLines()).singleElement().asString()
                .startsWith("error: relaunched on ").endsWith("but the module is still missing");
    }

    @Test
    void java17FindsAJdk25AndRunsOnIt(@TempDir Path temp) throws Exception {
        Optional<Path> java17 = installedJava17();
        assumeTrue(java17.isPresent(), "no Java 17 installed in /usr/lib/jvm");

        Result result = launch(temp, java17.get(), List.of("-Xmx200m"), "--version");

        assertThat(result.exitCode()).isZero();
        assertThat(result.out()).startsWith(VERSION_LINE + "\njava 25");
        assertThat(result.errLines()).isEmpty();
    }

    @Test
    void theRelaunchedJvmStopsWhenItsLauncherIsKilled(@TempDir Path temp) throws Exception {
        // A long-running command: serve on a free port. kill -9 of the launcher runs none of its hooks, so only the
        // child's own watch on its parent can stop the child.
        List<String> command = new ArrayList<>(List.of(JDK25_JAVA.toString(), "-cp", CLASS_PATH,
                Launcher.class.getName(), "serve", "--host", "127.0.0.1", "--port", "0", "--threads", "1",
                "--kv-cache-memory", "8MiB"));
        Process launcher = new ProcessBuilder(command).redirectOutput(temp.resolve("out.txt").toFile())
                .redirectError(temp.resolve("err.txt").toFile()).start();
        ProcessHandle child = null;
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (child == null && System.nanoTime() < deadline) {
                child = launcher.toHandle().children().findFirst().orElse(null);
                Thread.sleep(50);
            }
            assertThat(child).as("the relaunched JVM").isNotNull();
            launcher.destroyForcibly(); // SIGKILL
            launcher.waitFor(10, TimeUnit.SECONDS);

            boolean childStopped = child.onExit().completeOnTimeout(null, 30, TimeUnit.SECONDS).join() != null
                    || !child.isAlive();
            assertThat(childStopped).as("the relaunched JVM stopped after its launcher was killed; its stderr: "
                    + Files.readString(temp.resolve("err.txt"))).isTrue();
            assertThat(Files.readString(temp.resolve("err.txt"))).contains("the launcher process (pid "
                    + launcher.pid() + ") is gone; stopping");
        } finally {
            if (child != null) {
                child.destroyForcibly();
            }
            launcher.destroyForcibly();
        }
    }

    @Test
    void relaunchCommandAddsTheFlagsThenTheUsersJvmOptionsThenTheSameArguments() {
        List<String> command = Launcher.relaunchCommand(Path.of("/jdk/bin/java"), List.of("-Xmx2g"), "parallax.jar",
                new String[] {"generate", "-p", "Once upon a time"});

        assertThat(command).containsExactly("/jdk/bin/java", "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx2g",
                "-Dparallax.launcher.relaunched=true",
                "-Dparallax.launcher.pid=" + ProcessHandle.current().pid(), "-cp", "parallax.jar", "ai.parallax.launcher.Launcher",
                "generate", "-p", "Once upon a time");
    }

    @Test
    void launcherIsJava17BytecodeThatLinksToNoOtherParallaxClass() throws Exception {
        for (Class<?> type : List.of(Launcher.class, JdkLocator.class, JdkLocator.Place.class)) {
            String file = type.getName().substring(type.getPackageName().length() + 1) + ".class";
            byte[] bytes;
            try (var in = type.getResourceAsStream(file)) {
                bytes = in.readAllBytes();
            }
            int major = ((bytes[6] & 0xff) << 8) | (bytes[7] & 0xff);
            assertThat(major).as(file + " class file version").isEqualTo(61);
            // Linked classes appear as internal names (slashes); the real main is named only as a dotted string.
            String constants = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
            assertThat(constants.replace("ai/parallax/launcher/", "")).as(file).doesNotContain("ai/parallax/");
        }
    }

    private static Result launch(Path temp, Path java, List<String> jvmOptions, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(java.toString());
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", CLASS_PATH, Launcher.class.getName()));
        command.addAll(List.of(args));
        Path out = temp.resolve("out.txt");
        Path err = temp.resolve("err.txt");
        Process process = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!process.waitFor(120, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("launcher did not finish within 120 s: " + command);
        }
        return new Result(process.exitValue(), Files.readString(out), Files.readString(err));
    }

    private static Optional<Path> installedJava17() throws IOException {
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) {
            return Optional.empty();
        }
        try (Stream<Path> homes = Files.list(jvms)) {
            return homes.filter(home -> isJava17(home.resolve("release")))
                    .map(JdkLocator::javaBinary)
                    .filter(Files::isExecutable)
                    .findFirst();
        }
    }

    private static boolean isJava17(Path release) {
        try {
            return Files.readString(release).contains("JAVA_VERSION=\"17");
        } catch (IOException e) {
            return false;
        }
    }
}

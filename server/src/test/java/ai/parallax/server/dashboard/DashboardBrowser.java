package ai.parallax.server.dashboard;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code dashboard/src/test/js/dashboard-e2e.mjs} (playwright-core driving Debian's chromium) and reads what it
 * recorded. On CI ({@code CI=true}) a missing browser, node or playwright-core fails the test; elsewhere it is
 * skipped.
 */
final class DashboardBrowser {
    static final Path JS_DIR = Path.of(System.getProperty("user.dir")).resolveSibling("dashboard")
            .resolve("src/test/js");
    private static final ObjectMapper JSON = new ObjectMapper();

    private DashboardBrowser() {
    }

    /** Skips (or on CI fails) the calling test when the browser, node or playwright-core is missing. */
    static Path requireBrowser() {
        Path chromium = Path.of(System.getenv().getOrDefault("PARALLAX_CHROMIUM", "/usr/bin/chromium"));
        Path playwright = JS_DIR.resolve("node_modules/playwright-core");
        List<String> missing = new ArrayList<>();
        if (!Files.isExecutable(chromium)) {
            missing.add(chromium + " (apt-get install chromium)");
        }
        if (!Files.isDirectory(playwright)) {
            missing.add(playwright + " (run " + JS_DIR.resolve("install.sh") + ")");
        }
        if (!onPath("node")) {
            missing.add("node on the PATH");
        }
        if (!missing.isEmpty()) {
            if ("true".equals(System.getenv("CI"))) {
                fail("the dashboard browser test needs " + String.join(", ", missing));
            }
            assumeTrue(false, "skipped: missing " + String.join(", ", missing));
        }
        return chromium;
    }

    /** Starts {@code script} (in dashboard/src/test/js); {@code name} names its result and log files in target/. */
    static Process start(String script, String name, Path chromium, Map<String, String> env) throws IOException {
        Path result = result(name);
        Files.deleteIfExists(result);
        ProcessBuilder pb = new ProcessBuilder("node", JS_DIR.resolve(script).toString())
                .directory(JS_DIR.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log(name).toFile());
        pb.environment().putAll(env);
        pb.environment().put("CHROMIUM", chromium.toString());
        pb.environment().put("RESULT", result.toString());
        return pb.start();
    }

    /** Waits for the script and returns what it recorded; fails with its error and log when it failed. */
    static JsonNode finish(String name, Process p, int seconds) throws IOException, InterruptedException {
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the browser run took over " + seconds + " s; see " + log(name));
        }
        JsonNode r = JSON.readTree(result(name).toFile());
        if (!r.path("error").isMissingNode()) {
            fail("browser run failed: " + r.path("error").asText() + "\nlog: " + Files.readString(log(name)));
        }
        return r;
    }

    private static Path result(String name) {
        return Path.of("target", name + ".json").toAbsolutePath();
    }

    static Path log(String name) {
        return Path.of("target", name + ".log").toAbsolutePath();
    }

    private static boolean onPath(String command) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }
}

package ai.parallax.server.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.server.cli.CliProcesses;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The dashboard end to end in headless Chromium against a real cluster: {@code serve --models-dir} and
 * {@code join} as separate processes on loopback. The browser completes setup (stories260K on two nodes: the
 * scheduler's own worker and one joined node), sees the node join and the layer bar fill, chats (the streamed reply
 * must equal the API's greedy output), stops a reply midway and watches the cluster page's figures move. Then the
 * joined node is killed and the status must show it leave. Screenshots land in
 * {@code target/dashboard-cluster-screenshots/}.
 */
class DashboardClusterBrowserTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));
    private static final Path SCREENSHOTS = Path.of("target", "dashboard-cluster-screenshots");
    private static final String PROMPT = "Once upon a time, Lily had a red ball.";
    private static final int MAX_TOKENS = 48;
    private static final String STOP_PROMPT = "Tell me a long story about a dog.";
    private static final int STOP_MAX_TOKENS = 400;
    private static final Pattern JOIN = Pattern.compile("parallax join -s (\\S+) --token (\\S+)");
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Small enough that neither node holds stories260K with its KV reserve alone, so both take layers. */
    private static final String NODE_MEMORY = "1800KiB";

    private CliProcesses processes;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private String base;

    @AfterEach
    void stopProcesses() throws InterruptedException {
        if (processes != null) {
            processes.close();
        }
    }

    @Test
    void setupJoinChatStopAndClusterAgainstServePlusJoin() throws Exception {
        Path chromium = DashboardBrowser.requireBrowser();
        // The processes' logs stay in target/ for a look after the test.
        processes = new CliProcesses(Path.of("target", "dashboard-cluster-logs"));
        int port = CliProcesses.freePort();
        base = "http://127.0.0.1:" + port;
        processes.start("serve", "serve", "--models-dir", MODELS.toString(), "--host", "127.0.0.1", "--port",
                Integer.toString(port), "--p2p-port", "0", "--threads", "1", "--kv-blocks", "64", "--benchmark-ms",
                "50", "--memory", NODE_MEMORY, "--no-mdns");
        awaitHttp("/health", 30);

        Path signal = Path.of("target", "dashboard-cluster-failure.signal").toAbsolutePath();
        Files.deleteIfExists(signal);
        Process browser = DashboardBrowser.start("dashboard-e2e.mjs", "dashboard-cluster-e2e", chromium,
                env(Map.of("NODES", "2", "FAILURE_SIGNAL", signal.toString())));
        // Setup (in the browser) starts the scheduler; its join command then appears in the status.
        String command = awaitJoinCommand(60);
        Matcher m = JOIN.matcher(command);
        assertThat(m.find()).as(command).isTrue();
        Process node = processes.start("join", "join", "-s", m.group(1), "--token", m.group(2), "--host", "127.0.0.1",
                "--threads", "1", "--benchmark-ms", "50", "--memory", NODE_MEMORY, "--models-dir",
                MODELS.toString());
        // The browser goes through setup, join, chat, stop and the cluster page, then waits for a node failure. The
        // greedy answers are taken while the cluster still serves; then the joined node is killed.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(150);
        while (!Files.exists(signal) && browser.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        String greedy = greedyReply(PROMPT, MAX_TOKENS);
        String unstopped = greedyReply(STOP_PROMPT, STOP_MAX_TOKENS);
        node.destroyForcibly();
        JsonNode r = DashboardBrowser.finish("dashboard-cluster-e2e", browser, 180);

        // 1. Setup listed the models folder.
        assertThat(r.path("setupModels").toString()).contains("stories260K", "tiny-random-qwen3");
        // 2. Before the node joined only the scheduler's own worker was there; then both were ready, and the
        // pipeline's two stages tile layers 0-4.
        assertThat(r.path("joinBefore").asInt()).isLessThan(2);
        assertThat(r.at("/join/command").asText()).startsWith("parallax join -s /ip4/127.0.0.1/");
        assertThat(r.path("join").path("nodes")).hasSize(2);
        for (JsonNode n : r.at("/join/nodes")) {
            assertThat(n.path("state").asText()).isEqualTo("ready");
            assertThat(n.path("progress").asText()).isEqualTo("100");
        }
        List<String> labels = new ArrayList<>();
        r.at("/join/segments").forEach(s -> labels.add(s.path("label").asText()));
        assertThat(labels).hasSize(2);
        assertThat(labels.getFirst()).startsWith("0–");
        assertThat(labels.getLast()).endsWith("–4");
        // 3-4. The streamed reply equals the API's greedy answer to the same messages.
        assertThat(r.at("/chat/stored").asText()).isEqualTo(greedy);
        assertThat(normalizeSpace(r.at("/chat/shown").asText())).isEqualTo(normalizeSpace(greedy));
        // 5. The stopped reply is a strict prefix of what the model would have said.
        assertThat(r.at("/stopped/state").asText()).isEqualTo("stopped");
        String stopped = r.at("/stopped/content").asText();
        assertThat(stopped).isNotEmpty();
        assertThat(unstopped).startsWith(stopped);
        assertThat(stopped.length()).as("stopped midway").isLessThan(unstopped.length());
        // 6. The cluster page's generated-token figure moved; the events tell the story.
        assertThat(r.path("clusterAfter").asLong()).isGreaterThan(r.path("clusterBefore").asLong());
        assertThat(r.path("events").toString()).contains("setup: stories260K on 2 nodes", "joined",
                "allocation", "pipeline ready");

        // Nothing left the server.
        for (JsonNode url : r.path("requests")) {
            assertThat(url.asText()).as("a request to another host").startsWith(base + "/");
        }
        for (JsonNode url : r.path("websockets")) {
            assertThat(url.asText()).startsWith("ws://127.0.0.1:" + port + "/");
        }
        assertThat(r.path("requests").toString()).contains("/cluster/status/stream");
        assertThat(r.path("failedRequests")).as("failed requests").isEmpty();
        assertThat(r.path("consoleErrors")).as("console errors").isEmpty();
        for (String shot : List.of("setup", "join-waiting", "join", "chat", "chat-stopped", "cluster")) {
            assertThat(SCREENSHOTS.resolve(shot + ".png")).isNotEmptyFile();
        }

        // The joined node was killed at the end: the page said so plainly and listed it as left, and the status
        // says the same.
        assertThat(r.at("/failure/banner").asText()).startsWith("Node failure: node ").contains("is gone");
        assertThat(r.at("/failure/events").toString()).contains("left: ");
        assertThat(SCREENSHOTS.resolve("cluster-node-failure.png")).isNotEmptyFile();
        JsonNode status = JSON.readTree(get("/cluster/status").body());
        assertThat(status.path("state").asText()).isEqualTo("waiting");
        assertThat(status.path("nodes").toString()).contains("\"state\":\"left\"");
    }

    private Map<String, String> env(Map<String, String> extra) {
        Map<String, String> env = new HashMap<>(Map.of(
                "BASE_URL", base,
                "SCREENSHOTS", SCREENSHOTS.toAbsolutePath().toString(),
                "MODEL_ID", "stories260K",
                "PROMPT", PROMPT,
                "MAX_TOKENS", Integer.toString(MAX_TOKENS),
                "STOP_PROMPT", STOP_PROMPT,
                "STOP_MAX_TOKENS", Integer.toString(STOP_MAX_TOKENS)));
        env.putAll(extra);
        return env;
    }

    private String awaitJoinCommand(int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            HttpResponse<String> response = get("/cluster/join-command");
            if (response.statusCode() == 200) {
                String command = JSON.readTree(response.body()).path("command").asText("");
                if (command.startsWith("parallax join")) {
                    return command;
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no join command within " + seconds + " s; serve log:\n" + log("serve")
                + "\nbrowser log:\n" + Files.readString(DashboardBrowser.log("dashboard-cluster-e2e")));
    }

    private void awaitHttp(String path, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            try {
                get(path);
                return;
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new AssertionError("serve did not answer " + path + " within " + seconds + " s:\n" + log("serve"));
    }

    private String log(String name) {
        return processes.read(name);
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private String greedyReply(String prompt, int maxTokens) throws IOException, InterruptedException {
        String body = JSON.writeValueAsString(Map.of("model", "stories260K", "temperature", 0, "top_p", 1,
                "max_tokens", maxTokens, "messages", List.of(Map.of("role", "user", "content", prompt))));
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).at("/choices/0/message/content").asText();
    }

    private static String normalizeSpace(String s) {
        return s.replaceAll("\\s+", " ").strip();
    }
}

package ai.parallax.server.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.server.serve.LocalServer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The dashboard end to end in headless Chromium (Debian's, driven by playwright-core from npm): setup, join, a chat
 * whose streamed reply must equal the API's greedy output, a reply stopped midway, and the cluster page's figures
 * moving, plus the rendering of rich replies at phone width and in dark mode. Single-node: the server is
 * {@code serve} in-process on stories260K; {@link DashboardClusterBrowserTest} runs the same script against
 * {@code serve} + {@code join}. Screenshots land in {@code target/dashboard-screenshots/}.
 */
class DashboardBrowserTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));
    private static final Path STORIES = MODELS.resolve("stories260K");
    private static final Path SCREENSHOTS = Path.of("target", "dashboard-screenshots");
    private static final String PROMPT = "Once upon a time, Lily had a red ball.";
    private static final int MAX_TOKENS = 48;
    private static final String STOP_PROMPT = "Tell me a long story about a dog.";
    /** Long enough (seconds at this test's one thread) for the Stop click to land midway. */
    private static final int STOP_MAX_TOKENS = 400;
    private static final ObjectMapper JSON = new ObjectMapper();

    private static LocalServer server;
    private static String base;
    private static HttpClient http;

    @BeforeAll
    static void start() {
        server = LocalServer.start(new LocalServer.Options(STORIES, "127.0.0.1", 0, "4MiB", 16, 512, 8, 16, null,
                null, 1, null, 512), new PrintWriter(new StringWriter()));
        // The setup page lists the whole shared models folder, as `serve --models-dir` would.
        ClusterView view = new SingleNodeClusterView(STORIES, MODELS, server.api()::model, server.port());
        server.api().cluster(view);
        base = "http://127.0.0.1:" + server.port();
        http = HttpClient.newHttpClient();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void setupJoinChatStopAndClusterInARealBrowser() throws Exception {
        Path chromium = DashboardBrowser.requireBrowser();
        Process browser = DashboardBrowser.start("dashboard-e2e.mjs", "dashboard-e2e", chromium, Map.of(
                "BASE_URL", base,
                "SCREENSHOTS", SCREENSHOTS.toAbsolutePath().toString(),
                "MODEL_ID", "stories260K",
                "PROMPT", PROMPT,
                "MAX_TOKENS", Integer.toString(MAX_TOKENS),
                "STOP_PROMPT", STOP_PROMPT,
                "STOP_MAX_TOKENS", Integer.toString(STOP_MAX_TOKENS)));
        JsonNode r = DashboardBrowser.finish("dashboard-e2e", browser, 90);

        // 1. Setup listed the shared models and went on to the join page.
        assertThat(r.path("setupModels").toString()).contains("stories260K", "tiny-random-qwen3");
        // 2. The node is there and ready, and the one pipeline's bar covers layers 0-4 on it.
        assertThat(r.at("/join/nodes/0/state").asText()).isEqualTo("ready");
        assertThat(r.at("/join/nodes/0/progress").asText()).isEqualTo("100");
        assertThat(r.at("/join/segments/0/label").asText()).isEqualTo("0–4");
        // 3-4. The streamed reply equals the API's greedy answer to the same messages.
        String greedy = greedyReply(PROMPT, MAX_TOKENS);
        assertThat(r.at("/chat/stored").asText()).isEqualTo(greedy);
        assertThat(normalizeSpace(r.at("/chat/shown").asText())).isEqualTo(normalizeSpace(greedy));
        assertThat(r.at("/chat/stats/tokens").asInt()).isBetween(1, MAX_TOKENS);
        assertThat(r.at("/chat/meta").asText()).contains("tokens/s", "ms to first token");
        // 5. The stopped reply is marked stopped and is a strict prefix of what the model would have said.
        assertThat(r.at("/stopped/state").asText()).isEqualTo("stopped");
        assertThat(r.at("/stopped/meta").asText()).contains("Stopped");
        String stopped = r.at("/stopped/content").asText();
        String unstopped = greedyReply(STOP_PROMPT, STOP_MAX_TOKENS);
        assertThat(stopped).isNotEmpty();
        assertThat(unstopped).startsWith(stopped);
        assertThat(stopped.length()).as("stopped midway").isLessThan(unstopped.length());
        // 6. The cluster page's generated-token figure moved after a request.
        assertThat(r.path("clusterAfter").asLong()).isGreaterThan(r.path("clusterBefore").asLong());
        assertThat(r.path("events").toString()).contains("joined", "cluster ready");

        // Replies render Markdown, LaTeX and highlighted code; model HTML and images never reach the DOM as such.
        String html = r.at("/markdown/html").asText();
        assertThat(html).contains("<strong>bold</strong>", "class=\"katex\"", "hljs-type", "$5 and $10",
                "&lt;img src=x onerror=alert(1)&gt;", "[pic]");
        assertThat(html).doesNotContain("<img");
        assertThat(r.at("/markdown/think/reasoning").asText()).isEqualTo("plan");
        assertThat(r.at("/markdown/think/content").asText()).isEqualTo("answer");

        // Nothing left the server: every request and socket went to its origin.
        for (JsonNode url : r.path("requests")) {
            assertThat(url.asText()).as("a request to another host").startsWith(base + "/");
        }
        for (JsonNode url : r.path("websockets")) {
            assertThat(url.asText()).startsWith("ws://127.0.0.1:" + server.port() + "/");
        }
        assertThat(r.path("websockets")).isNotEmpty();
        assertThat(r.path("failedRequests")).as("failed requests").isEmpty();
        assertThat(r.path("consoleErrors")).as("console errors").isEmpty();
        for (String shot : List.of("setup", "join", "chat", "chat-stopped", "cluster", "chat-rendering")) {
            assertThat(SCREENSHOTS.resolve(shot + ".png")).isNotEmptyFile();
        }
    }

    private static String greedyReply(String prompt, int maxTokens) throws IOException, InterruptedException {
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

package ai.parallax.server.dashboard;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.server.serve.LocalServer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@code serve --api-key} must not lock the dashboard out: in headless Chromium the page asks for the key once,
 * refuses a wrong one, and then the status stream and the chat WebSocket work on an HttpOnly session cookie. The
 * API itself still refuses requests without the key.
 */
class DashboardApiKeyBrowserTest {
    private static final Path STORIES = Path.of(System.getProperty("parallax.models")).resolve("stories260K");
    private static final String KEY = "sk-dashboard-test-4711";
    private static final String PROMPT = "Once upon a time";
    private static final ObjectMapper JSON = new ObjectMapper();

    private LocalServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void pageAsksForTheKeyOnceThenWorksOnItsSessionCookie() throws Exception {
        Path chromium = DashboardBrowser.requireBrowser();
        server = LocalServer.start(new LocalServer.Options(STORIES, "127.0.0.1", 0, "4MiB", 16, 512, 8, 16, KEY,
                null, 1, null, 512), new PrintWriter(new StringWriter()));
        String base = "http://127.0.0.1:" + server.port();
        HttpClient http = HttpClient.newHttpClient();

        // Without the key the API and the cluster endpoints refuse; the page itself loads.
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/cluster/status")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(401);
        assertThat(http.send(HttpRequest.newBuilder(URI.create(base + "/dashboard/")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);

        Process browser = DashboardBrowser.start("dashboard-api-key.mjs", "dashboard-api-key", chromium, Map.of(
                "BASE_URL", base,
                "SCREENSHOTS", Path.of("target", "dashboard-screenshots").toAbsolutePath().toString(),
                "API_KEY", KEY,
                "PROMPT", PROMPT,
                "MAX_TOKENS", "24"));
        JsonNode r = DashboardBrowser.finish("dashboard-api-key", browser, 90);

        assertThat(r.path("wrongKeyMessage").asText()).contains("not the key");
        assertThat(r.path("cookies").toString()).contains("\"name\":\"parallax_session\"", "\"httpOnly\":true",
                "\"sameSite\":\"Strict\"");
        assertThat(r.path("documentCookie").asText()).doesNotContain("parallax_session");
        assertThat(r.path("promptAfterReload").asBoolean()).as("asked for the key again after a reload").isFalse();
        assertThat(r.path("consoleErrors")).isEmpty();

        // The reply came over the WebSocket on the cookie alone, and equals the API's greedy answer (with the key).
        String body = JSON.writeValueAsString(Map.of("model", "stories260K", "temperature", 0, "top_p", 1,
                "max_tokens", 24, "messages", List.of(Map.of("role", "user", "content", PROMPT))));
        HttpResponse<String> greedy = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(greedy.statusCode()).as(greedy.body()).isEqualTo(200);
        assertThat(r.path("reply").asText()).isEqualTo(
                JSON.readTree(greedy.body()).at("/choices/0/message/content").asText());
    }
}

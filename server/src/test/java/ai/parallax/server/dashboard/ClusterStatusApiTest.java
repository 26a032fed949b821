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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The /cluster/* endpoints and the dashboard's static files on a real single-node server serving stories260K. */
class ClusterStatusApiTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));
    private static final ObjectMapper JSON = new ObjectMapper();
    private static LocalServer server;
    private static HttpClient http;
    private static String base;

    @BeforeAll
    static void start() {
        server = LocalServer.start(new LocalServer.Options(MODELS.resolve("stories260K"), "127.0.0.1", 0, "4MiB", 16,
                512, 8, 16, null, null, 1, null, 512), new PrintWriter(new StringWriter()));
        base = "http://127.0.0.1:" + server.port();
        http = HttpClient.newHttpClient();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void statusStreamSendsTheStatusAsServerSentEventsOnceASecond() throws Exception {
        HttpResponse<java.util.stream.Stream<String>> response = http.send(HttpRequest.newBuilder(
                URI.create(base + "/cluster/status/stream")).build(), HttpResponse.BodyHandlers.ofLines());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        long start = System.nanoTime();
        java.util.List<JsonNode> events;
        try (java.util.stream.Stream<String> lines = response.body()) {
            events = lines.filter(l -> l.startsWith("data:")).limit(2)
                    .map(l -> {
                        try {
                            return JSON.readTree(l.substring(5));
                        } catch (java.io.IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                    }).toList();
        }
        assertThat(events).hasSize(2);
        assertThat(events.get(0).path("state").asText()).isEqualTo("ready");
        assertThat(events.get(1).path("timeMillis").asLong()).isGreaterThan(events.get(0).path("timeMillis").asLong());
        assertThat(System.nanoTime() - start).as("the second event a second after the first")
                .isGreaterThan(800_000_000L);
    }

    @Test
    void statusShowsOneReadyNodeHoldingEveryLayerInOnePipeline() throws Exception {
        JsonNode s = getJson("/cluster/status", 200);
        assertThat(s.path("state").asText()).isEqualTo("ready");
        assertThat(s.at("/model/id").asText()).isEqualTo("stories260K");
        assertThat(s.at("/model/numLayers").asInt()).isEqualTo(5);
        assertThat(s.path("nodes")).hasSize(1);
        JsonNode node = s.path("nodes").get(0);
        assertThat(node.path("state").asText()).isEqualTo("ready");
        assertThat(node.path("loadProgress").asDouble()).isEqualTo(1.0);
        assertThat(node.at("/layers/start").asInt()).isZero();
        assertThat(node.at("/layers/end").asInt()).isEqualTo(5);
        assertThat(node.at("/hardware/cores").asInt()).isEqualTo(Runtime.getRuntime().availableProcessors());
        assertThat(node.at("/metrics/kvBlocksTotal").asInt()).isPositive();
        assertThat(s.at("/pipelines/0/stages/0/node").asText()).isEqualTo(node.path("id").asText());
        assertThat(s.at("/join/joinable").asBoolean()).isFalse();
        assertThat(s.at("/join/command").asText()).startsWith("parallax join -s ");
        assertThat(s.path("events").toString()).contains("joined");
    }

    @Test
    void ratesAreSampledAfterASecondAndCountGeneratedTokens() throws Exception {
        post("/v1/chat/completions", "{\"model\":\"stories260K\",\"max_tokens\":16,\"temperature\":0,"
                + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}", 200);
        long deadline = System.currentTimeMillis() + 5000;
        JsonNode metrics;
        do {
            Thread.sleep(200);
            metrics = getJson("/cluster/status", 200).at("/nodes/0/metrics");
        } while (metrics.path("tokensPerSecond").isNull() && System.currentTimeMillis() < deadline);
        assertThat(metrics.path("tokensPerSecond").isNumber()).as(metrics.toString()).isTrue();
        assertThat(metrics.path("generatedTokens").asLong()).isGreaterThanOrEqualTo(16);
        assertThat(getJson("/cluster/history?since=0", 200).path("samples")).isNotEmpty();
    }

    @Test
    void loadProgressReachesTheEventLog() throws Exception {
        // LocalServer passes the view to the loader; loading stories260K reports its bytes.
        assertThat(getJson("/cluster/status", 200).path("events").toString()).contains("loading stories260K");
    }

    @Test
    void modelsListsTheServedModel() throws Exception {
        JsonNode m = getJson("/cluster/models", 200);
        assertThat(m.path("current").asText()).isEqualTo("stories260K");
        assertThat(m.at("/models/0/parameters").asLong()).isEqualTo(260_032);
        assertThat(m.path("nodeMemoryBytes").asLong()).isPositive();
    }

    @Test
    void setupOfTheServedModelOnOneNodeIsAccepted() throws Exception {
        JsonNode s = post("/cluster/setup", "{\"model\":\"stories260K\",\"nodes\":1,\"network\":\"public\"}", 200);
        assertThat(s.path("network").asText()).isEqualTo("public");
        post("/cluster/setup", "{\"model\":\"stories260K\",\"nodes\":1,\"network\":\"lan\"}", 200);
    }

    @Test
    void setupRefusalsSayWhatIsWrong() throws Exception {
        assertThat(post("/cluster/setup", "{\"model\":\"nope\"}", 404).at("/error/message").asText())
                .contains("no model \"nope\"");
        assertThat(post("/cluster/setup", "{\"model\":\"stories260K\",\"nodes\":3}", 409).at("/error/message")
                .asText()).contains("parallax serve -n 3");
        assertThat(post("/cluster/setup", "{\"model\":\"stories260K\",\"nodes\":0}", 400).at("/error/message")
                .asText()).contains("nodes must be at least 1");
        assertThat(post("/cluster/setup", "{\"model\":\"stories260K\",\"network\":\"wan\"}", 400)
                .at("/error/message").asText()).contains("\"lan\" or \"public\"");
        assertThat(post("/cluster/setup", "{\"model\":", 400).at("/error/message").asText())
                .contains("not the JSON object");
    }

    @Test
    void historyRejectsABadSinceAndReturnsSamples() throws Exception {
        assertThat(getJson("/cluster/history?since=yesterday", 400).at("/error/message").asText())
                .contains("epoch milliseconds");
        assertThat(getJson("/cluster/history?since=0", 200).path("samples").isArray()).isTrue();
    }

    @Test
    void rootRedirectsToTheDashboardWhichServesItsPagesAndLibraries() throws Exception {
        HttpResponse<String> root = get("/");
        assertThat(root.statusCode()).isEqualTo(307);
        assertThat(root.headers().firstValue("Location")).hasValue("/dashboard/");
        HttpResponse<String> index = get("/dashboard/");
        assertThat(index.statusCode()).isEqualTo(200);
        assertThat(index.body()).contains("<title>Parallax</title>", "js/main.js");
        HttpResponse<String> marked = get("/dashboard/vendor/marked/15.0.12/marked.min.js");
        assertThat(marked.statusCode()).isEqualTo(200);
        assertThat(marked.headers().firstValue("Content-Type").orElse("")).contains("javascript");
        assertThat(get("/dashboard/vendor/katex/0.16.4/dist/katex.min.js").statusCode()).isEqualTo(200);
        assertThat(get("/dashboard/vendor/highlightjs/11.11.1/highlight.min.js").statusCode()).isEqualTo(200);
        assertThat(get("/dashboard/no-such-file.js").statusCode()).isEqualTo(404);
    }

    private static HttpResponse<String> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode getJson(String path, int status) throws Exception {
        HttpResponse<String> r = get(path);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return JSON.readTree(r.body());
    }

    private static JsonNode post(String path, String body, int status) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(status);
        return JSON.readTree(r.body());
    }
}

package ai.parallax.server.api;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.server.dashboard.ClusterSetupView;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Path;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** With {@code --api-key}, the dashboard's pages load, and its session cookie opens what the key opens. */
class DashboardSessionTest {
    private static final String KEY = "sk-session-test";
    private ApiServer server;
    private String base;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void start() {
        server = new ApiServer("127.0.0.1", 0, KEY).start();
        server.cluster(new ClusterSetupView(Path.of(System.getProperty("parallax.models")),
                new ai.parallax.server.dashboard.ClusterSizing(1024, null), (c, e) -> {
            throw new AssertionError("not in this test");
        }));
        base = "http://127.0.0.1:" + server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private HttpResponse<String> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> session(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + DashboardSession.PATH))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void pagesLoadWithoutTheKeyButDataDoesNot() throws Exception {
        assertThat(get("/dashboard/").statusCode()).isEqualTo(200);
        assertThat(get("/dashboard/js/main.js").statusCode()).isEqualTo(200);
        assertThat(get("/cluster/status").statusCode()).isEqualTo(401);
        assertThat(get("/v1/models").statusCode()).isEqualTo(401);
        assertThat(get("/cluster/status", "Authorization", "Bearer " + KEY).statusCode()).isEqualTo(200);
    }

    @Test
    void wrongKeyGetsNoCookieAndTheRightOneGetsAnHttpOnlyStrictSession() throws Exception {
        HttpResponse<String> wrong = session("{\"key\": \"guess\"}");
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(wrong.headers().firstValue("Set-Cookie")).isEmpty();
        assertThat(session("{}").statusCode()).isEqualTo(400);

        HttpResponse<String> right = session("{\"key\": \"" + KEY + "\"}");
        assertThat(right.statusCode()).isEqualTo(204);
        String cookie = right.headers().firstValue("Set-Cookie").orElseThrow();
        assertThat(cookie).startsWith("parallax_session=").contains("HttpOnly", "SameSite=Strict", "Path=/")
                .doesNotContain(KEY);
        String pair = cookie.substring(0, cookie.indexOf(';'));

        assertThat(get("/cluster/status", "Cookie", pair).statusCode()).isEqualTo(200);
        assertThat(get("/cluster/status", "Cookie", "other=1; " + pair).statusCode()).isEqualTo(200);
        // No model is served here: past the key check, the API answers 503 rather than 401.
        assertThat(get("/v1/models", "Cookie", pair).statusCode()).isEqualTo(503);
        assertThat(get("/cluster/status", "Cookie", "parallax_session=forged").statusCode()).isEqualTo(401);
    }

    @Test
    void chatWebSocketOpensOnTheCookieAndNotWithoutIt() throws Exception {
        URI ws = URI.create("ws://127.0.0.1:" + server.port() + ApiServer.WEBSOCKET_PATH);
        WebSocket.Listener listener = new WebSocket.Listener() { };
        try {
            http.newWebSocketBuilder().buildAsync(ws, listener).join();
            throw new AssertionError("opened without the key");
        } catch (CompletionException refused) {
            // expected: the upgrade is refused
        }
        String cookie = session("{\"key\": \"" + KEY + "\"}").headers().firstValue("Set-Cookie").orElseThrow();
        WebSocket socket = http.newWebSocketBuilder().header("Cookie", cookie.substring(0, cookie.indexOf(';')))
                .buildAsync(ws, listener).get(5, TimeUnit.SECONDS);
        socket.sendClose(WebSocket.NORMAL_CLOSURE, "done").get(5, TimeUnit.SECONDS);
    }
}

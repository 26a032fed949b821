package ai.parallax.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * Lets the dashboard in when the server has an API key. A browser cannot put an {@code Authorization} header on a
 * page load, an {@code EventSource} or a WebSocket, so the page asks for the key once and posts it to
 * {@code POST /dashboard/session}; the answer sets an HttpOnly, SameSite=Strict cookie holding a random session
 * token (never the key), which every later same-origin request carries. The token lives as long as the server, so
 * a restart asks again.
 */
public final class DashboardSession {
    public static final String PATH = "/dashboard/session";
    public static final String COOKIE = "parallax_session";
    private static final int MAX_BODY_BYTES = 4096;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final byte[] key;
    private final String token;

    /** @param apiKey the server's key; not null */
    public DashboardSession(String apiKey) {
        this.key = apiKey.getBytes(StandardCharsets.UTF_8);
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        this.token = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
    }

    /** Whether the request carries this server's session cookie. */
    public boolean accepts(Headers headers) {
        for (String header : headers.all(HeaderNames.COOKIE, java.util.List::of)) {
            for (String pair : header.split(";")) {
                int eq = pair.indexOf('=');
                if (eq > 0 && pair.substring(0, eq).trim().equals(COOKIE) && MessageDigest.isEqual(
                        pair.substring(eq + 1).trim().getBytes(StandardCharsets.US_ASCII),
                        token.getBytes(StandardCharsets.US_ASCII))) {
                    return true;
                }
            }
        }
        return false;
    }

    public void register(HttpRouting.Builder routing) {
        routing.post(PATH, this::open);
    }

    /** Body {@code {"key": "…"}}: 204 with the cookie when the key is right, 401 otherwise. */
    private void open(ServerRequest req, ServerResponse res) throws IOException {
        JsonNode body;
        try (InputStream in = req.content().inputStream()) {
            byte[] bytes = in.readNBytes(MAX_BODY_BYTES + 1);
            body = bytes.length > MAX_BODY_BYTES ? null : JSON.readTree(bytes);
        } catch (IOException e) {
            body = null;
        }
        String given = body == null ? null : body.path("key").asText(null);
        if (given == null) {
            error(res, 400, "invalid_request_error", "send {\"key\": \"<the server's --api-key>\"}");
            return;
        }
        if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), key)) {
            error(res, 401, "authentication_error", "wrong API key");
            return;
        }
        res.header(HeaderNames.SET_COOKIE, COOKIE + "=" + token + "; Path=/; HttpOnly; SameSite=Strict");
        res.header(HeaderNames.CACHE_CONTROL, "no-store");
        res.status(Status.NO_CONTENT_204);
        res.send();
    }

    private static void error(ServerResponse res, int status, String type, String message) throws IOException {
        res.status(Status.create(status));
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(JSON.writeValueAsBytes(java.util.Map.of("error", java.util.Map.of("message", message,
                "type", type))));
    }
}

package ai.parallax.server.dashboard;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.helidon.http.HeaderNames;
import io.helidon.http.HttpException;
import io.helidon.http.Status;
import io.helidon.http.sse.SseEvent;
import io.helidon.webserver.sse.SseSink;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The dashboard's JSON endpoints over a {@link ClusterView}, as {@code dashboard/API.md} documents them:
 * {@code GET /cluster/status} and its stream {@code GET /cluster/status/stream} (SSE), {@code GET /cluster/models}, {@code POST /cluster/setup},
 * {@code GET /cluster/history} and {@code GET /cluster/join-command}. Errors use the OpenAI error object the rest of
 * the API uses, {@code {"error": {"message", "type"}}}, so the page shows one kind of error.
 */
public final class ClusterStatusApi {
    private static final Logger LOG = Logger.getLogger(ClusterStatusApi.class.getName());
    private static final int MAX_SETUP_BODY_BYTES = 64 << 10;
    private static final long STREAM_INTERVAL_MILLIS = 1000;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Supplier<ClusterView> view;

    /** @param view the cluster as it is now; null answers 503 (the server is still starting) */
    public ClusterStatusApi(Supplier<ClusterView> view) {
        this.view = view;
    }

    public void register(HttpRouting.Builder routing) {
        routing.get("/cluster/status", (req, res) -> send(res, 200, require().status()))
                .get("/cluster/status/stream", this::stream)
                .get("/cluster/models", (req, res) -> send(res, 200, require().models()))
                .get("/cluster/join-command", (req, res) -> send(res, 200, require().status().join()))
                .get("/cluster/history", this::history)
                .post("/cluster/setup", this::setup);
    }

    private ClusterView require() {
        ClusterView current = view.get();
        if (current == null) {
            throw new ClusterView.SetupRefusedException(503, "the server is starting; try again in a moment");
        }
        return current;
    }

    /**
     * The status as server-sent events, one {@code data:} JSON object a second, until the client goes away. Each
     * request has its own (virtual) thread in Helidon, so this one may sleep between events.
     */
    private void stream(ServerRequest req, ServerResponse res) {
        ClusterView first = require();
        res.header(HeaderNames.CACHE_CONTROL, "no-store");
        try (SseSink sse = res.sink(SseSink.TYPE)) {
            ClusterView current = first;
            while (current != null) {
                sse.emit(SseEvent.create(JSON.writeValueAsString(current.status())));
                Thread.sleep(STREAM_INTERVAL_MILLIS);
                current = view.get();
            }
        } catch (UncheckedIOException e) {
            LOG.fine(() -> "status stream closed by the client: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write cluster JSON: " + e.getMessage(), e);
        }
    }

    private void history(ServerRequest req, ServerResponse res) {
        String since = req.query().first("since").orElse("0");
        long sinceMillis;
        try {
            sinceMillis = Long.parseLong(since);
        } catch (NumberFormatException e) {
            sendError(res, 400, "since must be epoch milliseconds, got \"" + since + "\"");
            return;
        }
        send(res, 200, Map.of("samples", require().history(sinceMillis)));
    }

    private void setup(ServerRequest req, ServerResponse res) {
        SetupRequest request;
        try (InputStream in = req.content().inputStream()) {
            byte[] body = in.readNBytes(MAX_SETUP_BODY_BYTES + 1);
            if (body.length > MAX_SETUP_BODY_BYTES) {
                sendError(res, 413, "the setup body is over " + MAX_SETUP_BODY_BYTES + " bytes");
                return;
            }
            request = JSON.readValue(body, SetupRequest.class);
        } catch (JsonProcessingException e) {
            sendError(res, 400, "the setup body is not the JSON object {\"model\", \"nodes\", \"network\"}: "
                    + e.getOriginalMessage());
            return;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (request == null) {
            sendError(res, 400, "the setup body is empty; send {\"model\", \"nodes\", \"network\"}");
            return;
        }
        try {
            send(res, 200, require().setup(request));
        } catch (ClusterView.SetupRefusedException e) {
            sendError(res, e.status(), e.getMessage());
        }
    }

    private static void send(ServerResponse res, int status, Object body) {
        try {
            res.status(Status.create(status));
            res.header(HeaderNames.CONTENT_TYPE, "application/json");
            res.header(HeaderNames.CACHE_CONTROL, "no-store");
            res.send(JSON.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            LOG.log(Level.WARNING, "cannot write cluster JSON", e);
            throw new IllegalStateException("cannot write cluster JSON: " + e.getMessage(), e);
        }
    }

    static void sendError(ServerResponse res, int status, String message) {
        String type = status >= 500 ? "server_error" : status == 404 ? "not_found_error"
                : status == 409 ? "conflict_error" : "invalid_request_error";
        send(res, status, Map.of("error", Map.of("message", message, "type", type)));
    }

    /**
     * Registers the error mappings: refusals thrown by {@link #require()} outside {@link #setup}, and Helidon's own
     * HTTP exceptions (a path no route or file matches), which would otherwise reach the API's catch-all handler
     * and answer 500.
     */
    public static void registerErrors(HttpRouting.Builder routing) {
        routing.error(ClusterView.SetupRefusedException.class, (req, res, e) -> {
            if (!res.isSent()) {
                sendError(res, e.status(), e.getMessage());
            }
        });
        routing.error(HttpException.class, (req, res, e) -> {
            if (!res.isSent()) {
                int status = e.status().code();
                sendError(res, status, status == 404 ? "nothing at " + req.path().path() : e.getMessage());
            }
        });
    }
}

package ai.parallax.server.api;

import ai.parallax.runtime.engine.RequestRejectedException;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.websocket.WsListener;
import io.helidon.websocket.WsSession;
import io.helidon.websocket.WsUpgradeException;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Chat completions over a WebSocket, one listener per connection. The client sends a chat completion request as a
 * JSON text message; the server answers with the same chunk objects the SSE stream carries, one message per delta,
 * then the text {@code [DONE]}. Sending {@code {"type": "cancel"}} stops the generation (it ends with
 * {@code [DONE]} and no finish chunk); closing the socket cancels it too. Errors arrive as OpenAI error objects.
 */
final class ChatWebSocket implements WsListener {
    private static final Logger LOG = Logger.getLogger(ChatWebSocket.class.getName());

    private final OpenAiApi api;
    private final ServingMetrics metrics;
    private volatile GenerationRun current;
    private final StringBuilder partial = new StringBuilder();

    ChatWebSocket(OpenAiApi api, ServingMetrics metrics) {
        this.api = api;
        this.metrics = metrics;
    }

    @Override
    public Optional<Headers> onHttpUpgrade(HttpPrologue prologue, Headers headers) throws WsUpgradeException {
        if (!api.authorized(headers)) {
            throw new WsUpgradeException("missing or wrong API key");
        }
        return Optional.empty();
    }

    @Override
    public void onMessage(WsSession session, String text, boolean last) {
        partial.append(text);
        if (!last) {
            return;
        }
        String message = partial.toString();
        partial.setLength(0);
        if (message.contains("\"cancel\"") && message.replace(" ", "").contains("\"type\":\"cancel\"")) {
            GenerationRun run = current;
            if (run != null) {
                run.cancel();
            }
            return;
        }
        if (current != null) {
            send(session, OpenAiApi.write(OpenAiApi.errorBody(ApiException.invalid(null,
                    "a generation is already running on this socket; cancel it or wait for [DONE]"))));
            return;
        }
        try {
            ApiRequests.ChatCompletionRequest r = OpenAiApi.parse(message.getBytes(
                    java.nio.charset.StandardCharsets.UTF_8), ApiRequests.ChatCompletionRequest.class);
            ServedModel model = api.requireModel(r.model());
            ChatCall call = new ChatCall(model, metrics, r, OpenAiApi.JSON);
            GenerationRun run = new GenerationRun(model.dispatch(), call.choices());
            current = run;
            Thread.ofVirtual().name("parallax-ws-chat").start(() -> stream(session, call, run));
        } catch (ApiException e) {
            metrics.request("websocket", e.status());
            send(session, OpenAiApi.write(OpenAiApi.errorBody(e)));
        } catch (RequestRejectedException e) {
            ApiException error = OpenAiApi.rejected(e);
            metrics.request("websocket", error.status());
            send(session, OpenAiApi.write(OpenAiApi.errorBody(error)));
        }
    }

    private void stream(WsSession session, ChatCall call, GenerationRun run) {
        try (run) {
            call.stream(run, chunk -> send(session, OpenAiApi.write(chunk)));
            send(session, "[DONE]");
            metrics.request("websocket", 200);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "websocket stream ended", e);
        } finally {
            current = null;
        }
    }

    private synchronized void send(WsSession session, String text) {
        session.send(text, true);
    }

    @Override
    public void onClose(WsSession session, int status, String reason) {
        GenerationRun run = current;
        if (run != null) {
            run.cancel();
        }
    }

    @Override
    public void onError(WsSession session, Throwable t) {
        onClose(session, 1011, t.getMessage());
    }
}

package ai.parallax.server.api;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.engine.RequestRejectedException;
import ai.parallax.server.api.ApiResponses.Completion;
import ai.parallax.server.api.ApiResponses.CompletionChoice;
import ai.parallax.server.api.ApiResponses.CompletionLogprobs;
import ai.parallax.server.api.ApiResponses.ErrorBody;
import ai.parallax.server.api.ApiResponses.ErrorDetail;
import ai.parallax.server.api.ApiResponses.Usage;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.helidon.http.sse.SseEvent;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.helidon.webserver.sse.SseSink;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The OpenAI-compatible HTTP API, kept thin: each handler parses, validates, calls the engine and writes. The
 * shapes follow OpenAI's API reference (chat completions, completions, models) and its error object
 * ({@code {"error": {"message", "type", "param", "code"}}}).
 */
public final class OpenAiApi {
    private static final Logger LOG = Logger.getLogger(OpenAiApi.class.getName());
    /** Request bodies above this are refused with 413 before parsing. */
    public static final int MAX_BODY_BYTES = 4 << 20;

    static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .serializationInclusion(JsonInclude.Include.NON_NULL)
            .build();

    private final Supplier<ServedModel> model;
    private final ServingMetrics metrics;
    private final String apiKey;
    /** The dashboard's way in when there is a key; null without one. */
    private final DashboardSession session;

    /**
     * @param model  the served model, or null while it loads (requests then get 503)
     * @param apiKey the key clients must send as {@code Authorization: Bearer …}; null lets everyone in
     */
    public OpenAiApi(Supplier<ServedModel> model, ServingMetrics metrics, String apiKey) {
        this.model = model;
        this.metrics = metrics;
        this.apiKey = apiKey;
        this.session = apiKey == null ? null : new DashboardSession(apiKey);
    }

    public void register(HttpRouting.Builder routing) {
        if (session != null) {
            session.register(routing);
        }
        routing.any(this::authenticate)
                .post("/v1/chat/completions", (req, res) -> handle("chat", req, res, this::chat))
                .post("/v1/completions", (req, res) -> handle("completions", req, res, this::completions))
                .get("/v1/models", (req, res) -> handle("models", req, res, this::models))
                .get("/health", this::health)
                .get("/metrics", this::metrics)
                .error(Throwable.class, (req, res, t) -> {
                    LOG.log(Level.WARNING, "unhandled error on " + req.path().path(), t);
                    if (!res.isSent()) {
                        sendError(res, new ApiException(500, "server_error", null, null, "internal error: "
                                + t.getMessage()));
                    }
                });
    }

    /**
     * Whether a request with these headers may use the API: always without a key; with one, when it sends
     * {@code Authorization: Bearer <key>} or the dashboard's session cookie.
     */
    public boolean authorized(io.helidon.http.Headers headers) {
        return apiKey == null
                || ("Bearer " + apiKey).equals(headers.first(io.helidon.http.HeaderNames.AUTHORIZATION).orElse(null))
                || session.accepts(headers);
    }

    private void authenticate(ServerRequest req, ServerResponse res) {
        String path = req.path().path();
        // The dashboard's pages hold no data (they call the API for it), so they load without the key and then
        // ask for it; /health is for supervisors.
        boolean open = path.equals("/health") || path.equals("/") || path.equals("/dashboard")
                || path.startsWith("/dashboard/") && !path.equals(DashboardSession.PATH);
        if (open || path.equals(DashboardSession.PATH) || authorized(req.headers())) {
            res.next();
            return;
        }
        metrics.request("auth", 401);
        sendError(res, new ApiException(401, "authentication_error", null, "invalid_api_key",
                "missing or wrong API key: send the header \"Authorization: Bearer <key>\""));
    }

    @FunctionalInterface
    private interface Endpoint {
        void serve(ServerRequest req, ServerResponse res) throws Exception;
    }

    private void handle(String name, ServerRequest req, ServerResponse res, Endpoint endpoint) {
        int status = 200;
        try {
            endpoint.serve(req, res);
        } catch (ApiException e) {
            status = e.status();
            sendError(res, e);
        } catch (RequestRejectedException e) {
            ApiException error = rejected(e);
            status = error.status();
            sendError(res, error);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = 503;
        } catch (UncheckedIOException e) {
            status = 499; // the client went away mid-response
            LOG.fine(() -> name + ": client disconnected: " + e.getMessage());
        } catch (Exception e) {
            status = 500;
            LOG.log(Level.WARNING, name + " failed", e);
            sendError(res, new ApiException(500, "server_error", null, null, "internal error: " + e.getMessage()));
        }
        metrics.request(name, status);
    }

    static ApiException rejected(RequestRejectedException e) {
        return switch (e.reason()) {
            case QUEUE_FULL -> new ApiException(429, "rate_limit_error", null, "queue_full", e.getMessage());
            case CONTEXT_LENGTH_EXCEEDED -> new ApiException(400, "invalid_request_error", "messages",
                    "context_length_exceeded", e.getMessage());
            case INVALID -> ApiException.invalid("prompt", e.getMessage());
            case CLOSED -> new ApiException(503, "server_error", null, "shutting_down", e.getMessage());
        };
    }

    /** The model, or 503 while it loads; 404 when the request names another model. */
    ServedModel requireModel(String requested) {
        ServedModel m = model.get();
        if (m == null) {
            throw new ApiException(503, "server_error", null, "model_loading",
                    "the model is still loading; retry in a moment (GET /health says when it is ready)");
        }
        if (requested != null && !requested.isEmpty() && !requested.equals(m.id())) {
            throw new ApiException(404, "invalid_request_error", "model", "model_not_found",
                    "The model '" + requested + "' does not exist; this server serves '" + m.id() + "'");
        }
        return m;
    }

    private void chat(ServerRequest req, ServerResponse res) throws Exception {
        ApiRequests.ChatCompletionRequest r = parse(req, ApiRequests.ChatCompletionRequest.class);
        ServedModel m = requireModel(r.model());
        ChatCall call = new ChatCall(m, metrics, r, JSON);
        try (GenerationRun run = new GenerationRun(m.dispatch(), call.choices())) {
            if (Boolean.TRUE.equals(r.stream())) {
                streamSse(res, sink -> call.stream(run, chunk -> sink.accept(write(chunk))));
            } else {
                sendJson(res, 200, call.complete(run));
            }
        }
    }

    private void completions(ServerRequest req, ServerResponse res) throws Exception {
        ApiRequests.CompletionRequest r = parse(req, ApiRequests.CompletionRequest.class);
        ServedModel m = requireModel(r.model());
        int[] prompt = completionPrompt(r.prompt(), m);
        int contextLimit = m.engine().contextLimit();
        if (prompt.length >= contextLimit) {
            throw RequestValidation.contextLengthExceeded(prompt.length, contextLimit);
        }
        int maxTokens = RequestValidation.maxTokens("max_tokens", r.maxTokens() == null ? 16 : r.maxTokens(),
                prompt.length, contextLimit);
        int logprobs = r.logprobs() == null ? -1 : r.logprobs();
        if (logprobs < -1 || logprobs > RequestValidation.MAX_TOP_LOGPROBS) {
            throw ApiException.invalid("logprobs", "logprobs must be between 0 and "
                    + RequestValidation.MAX_TOP_LOGPROBS + ", got " + logprobs);
        }
        int n = RequestValidation.choices(r.n());
        List<GenerationRequest> choices = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            choices.add(RequestValidation.generation(r, prompt, maxTokens, i, logprobs));
        }
        String id = "cmpl-" + UUID.randomUUID().toString().replace("-", "");
        long created = System.currentTimeMillis() / 1000;
        String echo = Boolean.TRUE.equals(r.echo()) ? m.tokenizer().decode(prompt, false) : "";
        boolean includeUsage = r.streamOptions() != null && Boolean.TRUE.equals(r.streamOptions().includeUsage());
        try (GenerationRun run = new GenerationRun(m.dispatch(), choices)) {
            if (Boolean.TRUE.equals(r.stream())) {
                streamSse(res, sink -> {
                    int completion = 0;
                    boolean[] echoed = new boolean[n];
                    GenerationRun.Event e;
                    while ((e = run.next()) != null) {
                        switch (e) {
                            case GenerationRun.Token t -> {
                                String text = (echoed[t.choice()] ? "" : echo) + t.text();
                                echoed[t.choice()] = true;
                                if (!text.isEmpty()) {
                                    sink.accept(write(new Completion(id, "text_completion", created, m.id(),
                                            List.of(new CompletionChoice(t.choice(), text, null, null)), null)));
                                }
                            }
                            case GenerationRun.Done d -> {
                                completion += d.result().generatedIds().length;
                                sink.accept(write(new Completion(id, "text_completion", created, m.id(),
                                        List.of(new CompletionChoice(d.choice(), "", null,
                                                d.result().finishReason().openAiName())), null)));
                            }
                            case GenerationRun.Failed f -> throw new IllegalStateException(f.error());
                        }
                    }
                    metrics.tokens(prompt.length, completion);
                    if (includeUsage) {
                        sink.accept(write(new Completion(id, "text_completion", created, m.id(), List.of(),
                                new Usage(prompt.length, completion, prompt.length + completion))));
                    }
                });
                return;
            }
            GenerationResult[] results = new GenerationResult[n];
            GenerationRun.Event e;
            while ((e = run.next()) != null) {
                if (e instanceof GenerationRun.Done d) {
                    results[d.choice()] = d.result();
                } else if (e instanceof GenerationRun.Failed f) {
                    throw new IllegalStateException(f.error());
                }
            }
            List<CompletionChoice> out = new ArrayList<>();
            int completion = 0;
            for (int i = 0; i < n; i++) {
                completion += results[i].generatedIds().length;
                out.add(new CompletionChoice(i, echo + results[i].text(), legacyLogprobs(results[i], m),
                        results[i].finishReason().openAiName()));
            }
            metrics.tokens(prompt.length, completion);
            sendJson(res, 200, new Completion(id, "text_completion", created, m.id(), out,
                    new Usage(prompt.length, completion, prompt.length + completion)));
        }
    }

    private static CompletionLogprobs legacyLogprobs(GenerationResult r, ServedModel m) {
        if (r.logprobs() == null) {
            return null;
        }
        List<String> tokens = new ArrayList<>();
        List<Double> values = new ArrayList<>();
        List<Map<String, Double>> top = new ArrayList<>();
        List<Integer> offsets = new ArrayList<>();
        int offset = 0;
        for (var lp : r.logprobs()) {
            String text = m.tokenizer().decode(new int[] {lp.token()}, false);
            tokens.add(text);
            values.add(lp.logprob());
            Map<String, Double> alternatives = new LinkedHashMap<>();
            lp.top().forEach(a -> alternatives.putIfAbsent(m.tokenizer().decode(new int[] {a.token()}, false),
                    a.logprob()));
            top.add(alternatives);
            offsets.add(offset);
            offset += text.length();
        }
        return new CompletionLogprobs(tokens, values, top, offsets);
    }

    /** A string (tokenised with special tokens), token ids, or a one-element list of either. */
    private static int[] completionPrompt(JsonNode prompt, ServedModel m) {
        if (prompt == null || prompt.isNull()) {
            throw ApiException.invalid("prompt", "prompt is required");
        }
        JsonNode p = prompt;
        if (p.isArray() && p.size() == 1 && (p.get(0).isTextual() || p.get(0).isArray())) {
            p = p.get(0);
        }
        int[] ids;
        if (p.isTextual()) {
            ids = m.tokenizer().encode(p.asText(), true);
        } else if (p.isArray()) {
            ids = new int[p.size()];
            for (int i = 0; i < ids.length; i++) {
                if (!p.get(i).isInt()) {
                    throw ApiException.invalid("prompt", "prompt must be a string or an array of token ids; element "
                            + i + " is " + p.get(i).getNodeType());
                }
                ids[i] = p.get(i).asInt();
            }
        } else {
            throw ApiException.invalid("prompt", "prompt must be a string or an array of token ids, got "
                    + p.getNodeType() + (prompt.isArray() && prompt.size() > 1 ? " (batched prompts are not supported;"
                    + " send one request per prompt)" : ""));
        }
        if (ids.length == 0) {
            throw ApiException.invalid("prompt", "prompt is empty");
        }
        return ids;
    }

    private void models(ServerRequest req, ServerResponse res) {
        ServedModel m = requireModel(null);
        sendJson(res, 200, new ApiResponses.ModelList("list", List.of(new ApiResponses.ModelCard(m.id(), "model",
                m.created(), "parallax", m.engine().contextLimit(), m.chat().source(), m.chat().isFallback()))));
    }

    private void health(ServerRequest req, ServerResponse res) {
        ServedModel m = model.get();
        if (m == null) {
            sendJson(res, 503, new ApiResponses.Health("loading", null));
        } else {
            sendJson(res, 200, new ApiResponses.Health("ready", m.id()));
        }
    }

    private void metrics(ServerRequest req, ServerResponse res) {
        ServedModel m = model.get();
        res.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        res.send(metrics.render(m == null ? null : m.engine().stats()));
    }

    @FunctionalInterface
    private interface SseBody {
        void write(java.util.function.Consumer<String> sink) throws Exception;
    }

    /** Writes {@code body}'s events as SSE, then {@code data: [DONE]}; a failure mid-stream becomes an error event. */
    private void streamSse(ServerResponse res, SseBody body) throws Exception {
        res.header("Cache-Control", "no-cache");
        try (SseSink sse = res.sink(SseSink.TYPE)) {
            java.util.function.Consumer<String> sink = data -> sse.emit(SseEvent.create(data));
            try {
                body.write(sink);
            } catch (UncheckedIOException | InterruptedException e) {
                throw e;
            } catch (ApiException e) {
                sink.accept(write(errorBody(e)));
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "stream failed", e);
                sink.accept(write(errorBody(new ApiException(500, "server_error", null, null, e.getMessage()))));
            }
            sink.accept("[DONE]");
        }
    }

    /** Reads the body (refusing more than {@link #MAX_BODY_BYTES}) and maps it onto {@code type}. */
    static <T> T parse(ServerRequest req, Class<T> type) {
        byte[] body;
        try (InputStream in = req.content().inputStream()) {
            body = in.readNBytes(MAX_BODY_BYTES + 1);
        } catch (IOException e) {
            throw ApiException.invalid(null, "cannot read the request body: " + e.getMessage());
        }
        if (body.length > MAX_BODY_BYTES) {
            throw new ApiException(413, "invalid_request_error", null, "request_too_large",
                    "the request body is larger than " + MAX_BODY_BYTES + " bytes");
        }
        return parse(body, type);
    }

    static <T> T parse(byte[] body, Class<T> type) {
        if (body.length == 0) {
            throw ApiException.invalid(null, "the request body is empty; send a JSON object");
        }
        try {
            JsonNode tree = JSON.readTree(body);
            if (tree == null || !tree.isObject()) {
                throw ApiException.invalid(null, "the request body must be a JSON object");
            }
            return JSON.treeToValue(tree, type);
        } catch (JsonMappingException e) {
            String path = path(e);
            throw ApiException.invalid(path.isEmpty() ? null : path, (path.isEmpty() ? "" : path + ": ")
                    + "wrong type or value (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        } catch (JsonProcessingException e) {
            throw ApiException.invalid(null, "malformed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiException.invalid(null, "cannot read the request body: " + e.getMessage());
        }
    }

    private static String path(JsonMappingException e) {
        StringBuilder out = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (!out.isEmpty()) {
                    out.append('.');
                }
                out.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                out.append('[').append(ref.getIndex()).append(']');
            }
        }
        return out.toString();
    }

    static String write(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + value.getClass().getSimpleName(), e);
        }
    }

    static ErrorBody errorBody(ApiException e) {
        return new ErrorBody(new ErrorDetail(e.getMessage(), e.type(), e.param(), e.code()));
    }

    private static void sendJson(ServerResponse res, int status, Object body) {
        res.status(status);
        res.header("Content-Type", "application/json");
        res.send(write(body).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static void sendError(ServerResponse res, ApiException e) {
        if (!res.isSent()) {
            sendJson(res, e.status(), errorBody(e));
        }
    }
}

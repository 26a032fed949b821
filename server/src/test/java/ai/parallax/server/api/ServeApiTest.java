package ai.parallax.server.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.Generator;
import ai.parallax.runtime.LocalModel;
import ai.parallax.server.serve.LocalServer;
import ai.parallax.tensors.ops.Ops;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The API against a real server on a free loopback port serving stories260K, with the official OpenAI Java SDK as
 * the client. Expected texts come from the single-sequence {@link Generator}, which shares no code with the server.
 */
class ServeApiTest {
    private static final Path STORIES = Path.of(System.getProperty("parallax.models"), "stories260K");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static LocalServer server;
    private static OpenAIClient client;
    private static HttpClient http;
    private static String base;
    private static Ops referenceOps;
    private static LocalModel reference;

    @BeforeAll
    static void start() {
        server = LocalServer.start(options(0, null, 64), new PrintWriter(new StringWriter()));
        base = "http://127.0.0.1:" + server.port();
        client = OpenAIOkHttpClient.builder().baseUrl(base + "/v1").apiKey("unused").maxRetries(0).build();
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        referenceOps = new SimdOps(1);
        reference = LocalModel.open(STORIES, referenceOps, 512, null);
    }

    @AfterAll
    static void stop() {
        server.close();
        reference.close();
        referenceOps.close();
    }

    static LocalServer.Options options(int maxQueue, String apiKey, int maxRunning) {
        return new LocalServer.Options(STORIES, "127.0.0.1", 0, "16MiB", 16, 512, maxRunning,
                maxQueue == 0 ? 256 : maxQueue, apiKey, null, 2, null, 512);
    }

    /** What greedy decoding of {@code promptIds} gives, from the single-sequence generator. */
    private static String expected(int[] promptIds, int maxTokens) {
        return reference.generator(referenceOps).generate(GenerationRequest.greedy(promptIds, maxTokens),
                Generator.TextListener.NONE).text();
    }

    /** The fallback template: BOS, then the contents joined by newlines. */
    private static int[] chatPrompt(String user) {
        return reference.tokenizer().encode("<s>" + user, false);
    }

    private static ChatCompletionCreateParams chat(String user, int maxTokens) {
        return ChatCompletionCreateParams.builder().model("stories260K").addUserMessage(user)
                .maxCompletionTokens(maxTokens).temperature(0.0).build();
    }

    @Test
    void chatCompletionMatchesTheGenerator() {
        ChatCompletion completion = client.chat().completions().create(chat("Once upon a time", 30));
        String content = completion.choices().getFirst().message().content().orElseThrow();
        assertThat(content).isEqualTo(expected(chatPrompt("Once upon a time"), 30)).isNotBlank();
        assertThat(completion.choices().getFirst().finishReason()).isEqualTo(ChatCompletion.Choice.FinishReason.LENGTH);
        assertThat(completion.usage().orElseThrow().completionTokens()).isEqualTo(30);
        assertThat(completion.usage().orElseThrow().promptTokens()).isEqualTo(chatPrompt("Once upon a time").length);
    }

    @Test
    void streamedChatGivesTheSameTextAndEndsWithUsage() {
        ChatCompletionCreateParams params = chat("Once upon a time", 25).toBuilder()
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder text = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(params)) {
            stream.stream().forEach(chunk -> {
                chunks.add(chunk);
                chunk.choices().forEach(c -> c.delta().content().ifPresent(text::append));
            });
        }
        assertThat(text.toString()).isEqualTo(expected(chatPrompt("Once upon a time"), 25));
        assertThat(chunks.getLast().usage().orElseThrow().completionTokens()).isEqualTo(25);
        assertThat(chunks.get(chunks.size() - 2).choices().getFirst().finishReason()).isPresent();
    }

    @Test
    void completionOfAStringPromptMatchesTheGenerator() {
        Completion completion = client.completions().create(CompletionCreateParams.builder().model("stories260K")
                .prompt("The cat").maxTokens(20).temperature(0.0).build());
        assertThat(completion.choices().getFirst().text())
                .isEqualTo(expected(reference.tokenizer().encode("The cat", true), 20));
    }

    @Test
    void completionOfTokenIdsMatchesTheGenerator() throws Exception {
        JsonNode body = post("/v1/completions", "{\"model\":\"stories260K\",\"prompt\":[1,403,407],\"max_tokens\":12,"
                + "\"temperature\":0}", 200);
        assertThat(body.at("/choices/0/text").asText()).isEqualTo(expected(new int[] {1, 403, 407}, 12));
    }

    @Test
    void modelListShowsTheModelAndItsFallbackTemplate() throws Exception {
        List<Model> models = client.models().list().data();
        assertThat(models).extracting(Model::id).containsExactly("stories260K");
        JsonNode body = get("/v1/models", 200);
        assertThat(body.at("/data/0/chat_template").asText()).isEqualTo(ChatPromptFormatter.FALLBACK_TEMPLATE);
        assertThat(body.at("/data/0/chat_template_is_fallback").asBoolean()).isTrue();
    }

    @Test
    void errorsArriveAsTheSdkExceptionTypes() {
        assertThatThrownBy(() -> client.chat().completions().create(chat("hi", 5).toBuilder().model("gpt-9").build()))
                .isInstanceOf(NotFoundException.class)
                .satisfies(e -> assertThat(((NotFoundException) e).code()).contains("model_not_found"));
        assertThatThrownBy(() -> client.chat().completions().create(chat("hi", 5).toBuilder().temperature(-1.0)
                .build()))
                .isInstanceOf(BadRequestException.class)
                .satisfies(e -> assertThat(((BadRequestException) e).param()).contains("temperature"));
        String longPrompt = "Once upon a time ".repeat(200);
        assertThatThrownBy(() -> client.chat().completions().create(chat(longPrompt, 5)))
                .isInstanceOf(BadRequestException.class)
                .satisfies(e -> assertThat(((BadRequestException) e).code()).contains("context_length_exceeded"));
    }

    @Test
    void apiKeyAndQueueLimitAreEnforced() {
        try (LocalServer guarded = LocalServer.start(new LocalServer.Options(STORIES, "127.0.0.1", 0, "16MiB", 16,
                512, 4, 0, "sesame", null, 1, null, 512), new PrintWriter(new StringWriter()))) {
            String url = "http://127.0.0.1:" + guarded.port() + "/v1";
            OpenAIClient wrongKey = OpenAIOkHttpClient.builder().baseUrl(url).apiKey("guess").maxRetries(0).build();
            assertThatThrownBy(() -> wrongKey.models().list()).isInstanceOf(UnauthorizedException.class);
            OpenAIClient rightKey = OpenAIOkHttpClient.builder().baseUrl(url).apiKey("sesame").maxRetries(0).build();
            assertThat(rightKey.models().list().data()).hasSize(1);
            // --max-queue 0: no request may wait, so every one is refused with 429.
            assertThatThrownBy(() -> rightKey.chat().completions().create(chat("hi", 3)))
                    .isInstanceOf(RateLimitException.class);
        }
    }

    @Test
    void sixteenConcurrentGreedyStreamsEachEqualTheirSingleRequestOutput() throws Exception {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            prompts.add(List.of("Once upon a time", "The dog", "Lily was", "One day, a bird").get(i % 4) + " " + i);
        }
        List<String> alone = new ArrayList<>();
        for (String p : prompts) {
            alone.add(streamText(p, 24));
        }
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            List<Future<String>> together = new ArrayList<>();
            for (String p : prompts) {
                together.add(pool.submit(() -> streamText(p, 24)));
            }
            for (int i = 0; i < 16; i++) {
                assertThat(together.get(i).get(60, TimeUnit.SECONDS)).as("request %d", i).isEqualTo(alone.get(i))
                        .isEqualTo(expected(chatPrompt(prompts.get(i)), 24));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static String streamText(String user, int maxTokens) {
        StringBuilder text = new StringBuilder();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions()
                .createStreaming(chat(user, maxTokens))) {
            stream.stream().forEach(c -> c.choices().forEach(ch -> ch.delta().content().ifPresent(text::append)));
        }
        return text.toString();
    }

    @Test
    void disconnectedClientCancelsAndItsKvBlocksComeBack() throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"stories260K\",\"stream\":true,"
                        + "\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],\"max_tokens\":480,\"n\":16,"
                        + "\"ignore_eos\":true,\"temperature\":1,\"seed\":1}"))
                .build();
        HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
        InputStream body = response.body();
        // 16 choices of 480 tokens each: on an idle machine stories260K writes one 480-token stream into the
        // socket buffers faster than the test can look at /metrics, so give the engine enough work to be caught
        // mid-generation.
        byte[] first = body.readNBytes(400); // the first chunks; the choices may still be queued
        assertThat(new String(first, StandardCharsets.UTF_8)).startsWith("data:");
        long started = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (metric("parallax_kv_blocks_used") == 0 && System.nanoTime() < started) {
            Thread.sleep(5);
        }
        assertThat(metric("parallax_kv_blocks_used")).as("KV blocks while generating").isPositive();
        assertThat(metric("parallax_running_sequences")).isPositive();
        body.close(); // the client goes away

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (metric("parallax_kv_blocks_used") > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(metric("parallax_kv_blocks_used")).as("KV blocks after the disconnect").isZero();
        assertThat(metric("parallax_running_sequences")).isZero();
        assertThat(server.engine().stats().cancelled()).isPositive();
    }

    @Test
    void webSocketStreamsTheSameDeltasAndCancelsByMessage() throws Exception {
        LinkedBlockingQueue<String> messages = new LinkedBlockingQueue<>();
        WebSocket ws = http.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + server.port()
                + ApiServer.WEBSOCKET_PATH), new WebSocket.Listener() {
                    private final StringBuilder partial = new StringBuilder();

                    @Override
                    public CompletionStage<?> onText(WebSocket socket, CharSequence data, boolean last) {
                        partial.append(data);
                        if (last) {
                            messages.add(partial.toString());
                            partial.setLength(0);
                        }
                        socket.request(1);
                        return null;
                    }
                }).get(10, TimeUnit.SECONDS);
        ws.sendText("{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                + "\"max_tokens\":20,\"temperature\":0}", true).get();
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String m = messages.poll(30, TimeUnit.SECONDS); !"[DONE]".equals(m); m = messages.poll(30, TimeUnit.SECONDS)) {
            assertThat(m).isNotNull();
            JsonNode chunk = JSON.readTree(m);
            text.append(chunk.at("/choices/0/delta/content").asText(""));
            if (chunk.at("/choices/0/finish_reason").isTextual()) {
                finish = chunk.at("/choices/0/finish_reason").asText();
            }
        }
        assertThat(text.toString()).isEqualTo(expected(chatPrompt("Once upon a time"), 20));
        assertThat(finish).isEqualTo("length");

        ws.sendText("{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],"
                + "\"max_tokens\":480,\"ignore_eos\":true,\"temperature\":0}", true).get();
        assertThat(messages.poll(30, TimeUnit.SECONDS)).contains("chat.completion.chunk");
        ws.sendText("{\"type\":\"cancel\"}", true).get();
        int received = 0;
        String m;
        while (!"[DONE]".equals(m = messages.poll(30, TimeUnit.SECONDS))) {
            assertThat(m).isNotNull();
            received++;
        }
        assertThat(received).as("chunks after the cancel").isLessThan(470);
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").get();
    }

    @Test
    void twoHundredHostileRequestsEachGetAJsonClientErrorAndTheServerKeepsServing() throws Exception {
        List<String> bodies = new ArrayList<>();
        String[] templates = {
            "{bad json", "", "[]", "null", "42", "\"text\"", "{\"messages\": 5}", "{\"messages\": []}",
            "{\"messages\": [{\"role\": \"user\"}]}", "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}",
            "{\"messages\": [{\"role\": \"user\", \"content\": 7}]}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 100000000}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": -3}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": \"many\"}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": -0.5}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": \"hot\"}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_p\": 7}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"n\": 1000}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"stop\": 12}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 50, \"logprobs\": true}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{\"type\": \"nope\"}]}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tool_choice\": \"sometimes\"}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"model\": \"other\"}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 1.5}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]} trailing",
        };
        for (int i = 0; i < 200; i++) {
            bodies.add(templates[i % templates.length]);
        }
        bodies.set(199, "{\"messages\": [{\"role\": \"user\", \"content\": \"" + "x".repeat(10 << 20) + "\"}]}");
        bodies.set(198, "{\"model\":\"stories260K\",\"prompt\":[1, 99999]}");
        for (int i = 0; i < bodies.size(); i++) {
            String path = i == 198 ? "/v1/completions" : "/v1/chat/completions";
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + path))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(bodies.get(i))).build(),
                    HttpResponse.BodyHandlers.ofString());
            String shown = bodies.get(i).length() > 80 ? bodies.get(i).substring(0, 80) + "…" : bodies.get(i);
            assertThat(response.statusCode()).as("status for %s", shown).isBetween(400, 499);
            JsonNode error = JSON.readTree(response.body()).path("error");
            assertThat(error.path("message").asText()).as("error message for %s", shown).isNotBlank();
            assertThat(error.path("type").asText()).isNotBlank();
        }
        assertThat(client.chat().completions().create(chat("Once upon a time", 5)).choices()).hasSize(1);
    }

    private static JsonNode post(String path, String body, int status) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        return JSON.readTree(response.body());
    }

    private static JsonNode get(String path, int status) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).isEqualTo(status);
        return JSON.readTree(response.body());
    }

    private static double metric(String name) throws Exception {
        String text = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        return text.lines().filter(l -> l.startsWith(name + " ")).mapToDouble(l -> Double.parseDouble(l.split(" ")[1]))
                .findFirst().orElseThrow(() -> new AssertionError("no metric " + name + " in\n" + text));
    }
}

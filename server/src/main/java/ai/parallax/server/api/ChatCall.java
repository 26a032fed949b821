package ai.parallax.server.api;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.GenerationResult.FinishReason;
import ai.parallax.runtime.sampling.TokenLogprob;
import ai.parallax.server.api.ApiResponses.AssistantMessage;
import ai.parallax.server.api.ApiResponses.ChatChoice;
import ai.parallax.server.api.ApiResponses.ChatCompletion;
import ai.parallax.server.api.ApiResponses.ChatCompletionChunk;
import ai.parallax.server.api.ApiResponses.ChoiceLogprobs;
import ai.parallax.server.api.ApiResponses.ChunkChoice;
import ai.parallax.server.api.ApiResponses.Delta;
import ai.parallax.server.api.ApiResponses.FunctionCall;
import ai.parallax.server.api.ApiResponses.ToolCall;
import ai.parallax.server.api.ApiResponses.ToolCallDelta;
import ai.parallax.server.api.ApiResponses.TokenLogprobEntry;
import ai.parallax.server.api.ApiResponses.TopLogprob;
import ai.parallax.server.api.ApiResponses.Usage;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;

/**
 * One chat completion from request to response: validation and prompt rendering, then either the whole response
 * ({@link #complete}) or a stream of chunks ({@link #stream}), shared by the HTTP and WebSocket endpoints.
 */
final class ChatCall {
    private final ServedModel model;
    private final ServingMetrics metrics;
    private final List<GenerationRequest> choices;
    private final int promptTokens;
    private final boolean startsInReasoning;
    private final boolean includeUsage;
    private final String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
    private final long created = System.currentTimeMillis() / 1000;
    private final long arrival = System.nanoTime();

    ChatCall(ServedModel model, ServingMetrics metrics, ApiRequests.ChatCompletionRequest r, ObjectMapper json) {
        this.model = model;
        this.metrics = metrics;
        List<Map<String, Object>> messages = RequestValidation.templateMessages(r.messages(), json);
        List<Map<String, Object>> tools = RequestValidation.tools(r.tools(), r.toolChoice(), json);
        @SuppressWarnings("unchecked")
        Map<String, Object> kwargs = r.chatTemplateKwargs() != null && r.chatTemplateKwargs().isObject()
                ? json.convertValue(r.chatTemplateKwargs(), Map.class) : null;
        String prompt;
        try {
            prompt = model.chat().render(messages, tools, kwargs);
        } catch (RuntimeException e) {
            throw ApiException.invalid("messages", "the chat template refused these messages: " + e.getMessage());
        }
        int[] ids = model.tokenizer().encode(prompt, false);
        if (ids.length == 0) {
            throw ApiException.invalid("messages", "the messages render to an empty prompt");
        }
        this.promptTokens = ids.length;
        int contextLimit = model.engine().contextLimit();
        if (ids.length >= contextLimit) {
            throw RequestValidation.contextLengthExceeded(ids.length, contextLimit);
        }
        String param = r.maxCompletionTokens() != null ? "max_completion_tokens" : "max_tokens";
        int maxTokens = RequestValidation.maxTokens(param,
                r.maxCompletionTokens() != null ? r.maxCompletionTokens() : r.maxTokens(), ids.length, contextLimit);
        int logprobs = RequestValidation.topLogprobs(r.logprobs(), r.topLogprobs());
        int n = RequestValidation.choices(r.n());
        this.choices = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            choices.add(RequestValidation.generation(r, ids, maxTokens, i, logprobs));
        }
        this.startsInReasoning = prompt.stripTrailing().endsWith("<think>");
        this.includeUsage = r.streamOptions() != null && Boolean.TRUE.equals(r.streamOptions().includeUsage());
    }

    int promptTokens() {
        return promptTokens;
    }

    /** Runs every choice to the end and builds the response. */
    ChatCompletion complete(GenerationRun run) throws InterruptedException {
        GenerationResult[] results = new GenerationResult[choices.size()];
        long[] last = new long[choices.size()];
        GenerationRun.Event e;
        while ((e = run.next()) != null) {
            switch (e) {
                case GenerationRun.Token t -> last[t.choice()] = observe(last[t.choice()], t.nanos());
                case GenerationRun.Done d -> results[d.choice()] = d.result();
                case GenerationRun.Failed f -> throw new IllegalStateException("generation failed: "
                        + f.error().getMessage(), f.error());
            }
        }
        List<ChatChoice> out = new ArrayList<>();
        int completion = 0;
        for (int i = 0; i < results.length; i++) {
            GenerationResult r = results[i];
            completion += r.generatedIds().length;
            AssistantOutputParser parser = new AssistantOutputParser(startsInReasoning);
            AssistantOutputParser.Deltas a = parser.feed(r.text());
            AssistantOutputParser.Deltas b = parser.finish();
            String content = a.content() + b.content();
            String reasoning = a.reasoning() + b.reasoning();
            List<ToolCall> calls = new ArrayList<>();
            for (AssistantOutputParser.ParsedToolCall c : concat(a.toolCalls(), b.toolCalls())) {
                calls.add(new ToolCall(callId(), "function", new FunctionCall(c.name(), c.arguments())));
            }
            AssistantMessage message = new AssistantMessage("assistant",
                    calls.isEmpty() || !content.isEmpty() ? content : null, null,
                    reasoning.isEmpty() ? null : reasoning, calls.isEmpty() ? null : calls);
            ChoiceLogprobs logprobs = r.logprobs() == null ? null
                    : new ChoiceLogprobs(r.logprobs().stream().map(this::logprobEntry).toList(), null);
            out.add(new ChatChoice(i, message, logprobs, finishReason(r.finishReason(), !calls.isEmpty())));
        }
        metrics.tokens(promptTokens, completion);
        return new ChatCompletion(id, "chat.completion", created, model.id(), out,
                new Usage(promptTokens, completion, promptTokens + completion));
    }

    /**
     * Streams chunks to {@code sink} as the choices progress. A sink that throws has lost its client: every choice
     * is cancelled and the exception propagates.
     */
    void stream(GenerationRun run, Consumer<ChatCompletionChunk> sink) throws InterruptedException {
        int n = choices.size();
        AssistantOutputParser[] parsers = new AssistantOutputParser[n];
        int[] toolIndex = new int[n];
        long[] last = new long[n];
        int completion = 0;
        try {
            for (int i = 0; i < n; i++) {
                parsers[i] = new AssistantOutputParser(startsInReasoning);
                sink.accept(chunk(i, new Delta("assistant", "", null, null), null, null));
            }
            GenerationRun.Event e;
            while ((e = run.next()) != null) {
                int c = e.choice();
                switch (e) {
                    case GenerationRun.Token t -> {
                        last[c] = observe(last[c], t.nanos());
                        Delta delta = delta(parsers[c].feed(t.text()), toolIndex, c);
                        ChoiceLogprobs logprobs = t.logprob() == null ? null
                                : new ChoiceLogprobs(List.of(logprobEntry(t.logprob())), null);
                        if (delta != null || logprobs != null) {
                            sink.accept(chunk(c, delta == null ? new Delta(null, "", null, null) : delta, logprobs,
                                    null));
                        }
                    }
                    case GenerationRun.Done d -> {
                        completion += d.result().generatedIds().length;
                        Delta delta = delta(parsers[c].finish(), toolIndex, c);
                        if (delta != null) {
                            sink.accept(chunk(c, delta, null, null));
                        }
                        if (d.result().finishReason() != FinishReason.CANCELLED) {
                            sink.accept(chunk(c, new Delta(null, null, null, null), null,
                                    finishReason(d.result().finishReason(), parsers[c].toolCallCount() > 0)));
                        }
                    }
                    case GenerationRun.Failed f -> throw new IllegalStateException("generation failed: "
                            + f.error().getMessage(), f.error());
                }
            }
            metrics.tokens(promptTokens, completion);
            if (includeUsage) {
                sink.accept(new ChatCompletionChunk(id, "chat.completion.chunk", created, model.id(), List.of(),
                        new Usage(promptTokens, completion, promptTokens + completion)));
            }
        } catch (RuntimeException e) {
            run.cancel();
            throw e;
        }
    }

    List<GenerationRequest> choices() {
        return choices;
    }

    private long observe(long previous, long now) {
        if (previous == 0) {
            metrics.timeToFirstToken(now - arrival);
        } else {
            metrics.interTokenLatency(now - previous);
        }
        return now;
    }

    private Delta delta(AssistantOutputParser.Deltas d, int[] toolIndex, int choice) {
        if (d.isEmpty()) {
            return null;
        }
        List<ToolCallDelta> calls = null;
        if (!d.toolCalls().isEmpty()) {
            calls = new ArrayList<>();
            for (AssistantOutputParser.ParsedToolCall c : d.toolCalls()) {
                calls.add(new ToolCallDelta(toolIndex[choice]++, callId(), "function",
                        new FunctionCall(c.name(), c.arguments())));
            }
        }
        return new Delta(null, d.content().isEmpty() ? null : d.content(),
                d.reasoning().isEmpty() ? null : d.reasoning(), calls);
    }

    private ChatCompletionChunk chunk(int choice, Delta delta, ChoiceLogprobs logprobs, String finishReason) {
        return new ChatCompletionChunk(id, "chat.completion.chunk", created, model.id(),
                List.of(new ChunkChoice(choice, delta, logprobs, finishReason)), null);
    }

    private TokenLogprobEntry logprobEntry(TokenLogprob lp) {
        List<TopLogprob> top = lp.top().stream()
                .map(a -> new TopLogprob(tokenText(a.token()), a.logprob(), bytes(tokenText(a.token()))))
                .toList();
        String text = tokenText(lp.token());
        return new TokenLogprobEntry(text, lp.logprob(), bytes(text), top);
    }

    private String tokenText(int token) {
        return model.tokenizer().decode(new int[] {token}, false);
    }

    static List<Integer> bytes(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        List<Integer> out = new ArrayList<>(b.length);
        for (byte x : b) {
            out.add(x & 0xFF);
        }
        return out;
    }

    static String finishReason(FinishReason reason, boolean toolCalls) {
        if (toolCalls && reason == FinishReason.STOP) {
            return "tool_calls";
        }
        return reason.openAiName();
    }

    private static String callId() {
        return "call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24);
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}

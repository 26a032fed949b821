package ai.parallax.server.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * The response bodies of the OpenAI API, as records. Absent (null) fields are left out, except where OpenAI's
 * schema marks a field required but nullable ({@code content}, {@code finish_reason}, ...): those are written as
 * {@code null}, because strict clients (the official SDKs) check they are present.
 */
public final class ApiResponses {
    private ApiResponses() {
    }

    public record ChatCompletion(String id, String object, long created, String model, List<ChatChoice> choices,
                                 Usage usage) {
    }

    public record ChatChoice(int index, AssistantMessage message,
                             @JsonInclude(JsonInclude.Include.ALWAYS) ChoiceLogprobs logprobs,
                             @JsonInclude(JsonInclude.Include.ALWAYS) String finishReason) {
    }

    public record AssistantMessage(String role, @JsonInclude(JsonInclude.Include.ALWAYS) String content,
                                   @JsonInclude(JsonInclude.Include.ALWAYS) String refusal, String reasoningContent,
                                   List<ToolCall> toolCalls) {
    }

    public record ToolCall(String id, String type, FunctionCall function) {
    }

    public record FunctionCall(String name, String arguments) {
    }

    public record Usage(int promptTokens, int completionTokens, int totalTokens) {
    }

    public record ChatCompletionChunk(String id, String object, long created, String model, List<ChunkChoice> choices,
                                      Usage usage) {
    }

    public record ChunkChoice(int index, Delta delta, ChoiceLogprobs logprobs,
                              @JsonInclude(JsonInclude.Include.ALWAYS) String finishReason) {
    }

    public record Delta(String role, String content, String reasoningContent, List<ToolCallDelta> toolCalls) {
    }

    public record ToolCallDelta(int index, String id, String type, FunctionCall function) {
    }

    public record ChoiceLogprobs(@JsonInclude(JsonInclude.Include.ALWAYS) List<TokenLogprobEntry> content,
                                 @JsonInclude(JsonInclude.Include.ALWAYS) List<TokenLogprobEntry> refusal) {
    }

    public record TokenLogprobEntry(String token, double logprob, List<Integer> bytes, List<TopLogprob> topLogprobs) {
    }

    public record TopLogprob(String token, double logprob, List<Integer> bytes) {
    }

    public record Completion(String id, String object, long created, String model, List<CompletionChoice> choices,
                             Usage usage) {
    }

    public record CompletionChoice(int index, String text, @JsonInclude(JsonInclude.Include.ALWAYS) CompletionLogprobs logprobs,
                                   @JsonInclude(JsonInclude.Include.ALWAYS) String finishReason) {
    }

    /** The legacy completions log-probability shape: parallel lists. */
    public record CompletionLogprobs(List<String> tokens, List<Double> tokenLogprobs,
                                     List<java.util.Map<String, Double>> topLogprobs, List<Integer> textOffset) {
    }

    /**
     * GET /v1/models entry. Besides OpenAI's fields it says how long a sequence may be and which chat template the
     * server applies, so a client can see the fallback template of a base model.
     */
    public record ModelCard(String id, String object, long created, String ownedBy, int contextLength,
                            String chatTemplate, boolean chatTemplateIsFallback) {
    }

    public record ModelList(String object, List<ModelCard> data) {
    }

    public record ErrorBody(ErrorDetail error) {
    }

    public record ErrorDetail(String message, String type, @JsonInclude(JsonInclude.Include.ALWAYS) String param,
                              @JsonInclude(JsonInclude.Include.ALWAYS) String code) {
    }

    public record Health(String status, String model) {
    }
}

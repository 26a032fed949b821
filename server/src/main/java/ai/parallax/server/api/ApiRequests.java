package ai.parallax.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * The request bodies of the OpenAI API, as records. Field names are the API's snake_case ones (the mapper converts).
 * Fields that accept several JSON shapes ({@code stop}, {@code content}, {@code prompt}, {@code tool_choice}) stay
 * {@link JsonNode} and are checked by {@link RequestValidation}.
 */
public final class ApiRequests {
    private ApiRequests() {
    }

    /** The sampling and stopping fields both endpoints share. */
    public interface SamplingFields {
        String model();

        Integer maxTokens();

        Double temperature();

        Double topP();

        Integer topK();

        Double minP();

        Double presencePenalty();

        Double frequencyPenalty();

        Double repetitionPenalty();

        Long seed();

        JsonNode stop();

        List<Integer> stopTokenIds();

        Boolean ignoreEos();

        Integer n();

        Boolean stream();

        StreamOptions streamOptions();

        String user();
    }

    /** POST /v1/chat/completions. */
    public record ChatCompletionRequest(String model, List<ChatMessage> messages, Integer maxTokens,
                                        Integer maxCompletionTokens, Double temperature, Double topP, Integer topK,
                                        Double minP, Double presencePenalty, Double frequencyPenalty,
                                        Double repetitionPenalty, Long seed, JsonNode stop, List<Integer> stopTokenIds,
                                        Boolean ignoreEos, Integer n, Boolean stream, StreamOptions streamOptions,
                                        Boolean logprobs, Integer topLogprobs, String user, List<JsonNode> tools,
                                        JsonNode toolChoice, Boolean parallelToolCalls,
                                        JsonNode chatTemplateKwargs) implements SamplingFields {
    }

    /** One message of a conversation; {@code content} is a string, a list of text parts, or null. */
    public record ChatMessage(String role, JsonNode content, String name, List<JsonNode> toolCalls,
                              String toolCallId, String reasoningContent) {
    }

    public record StreamOptions(Boolean includeUsage) {
    }

    /** POST /v1/completions; {@code prompt} is a string, a list of one string, token ids, or a list of one id list. */
    public record CompletionRequest(String model, JsonNode prompt, Integer maxTokens, Double temperature, Double topP,
                                    Integer topK, Double minP, Double presencePenalty, Double frequencyPenalty,
                                    Double repetitionPenalty, Long seed, JsonNode stop, List<Integer> stopTokenIds,
                                    Boolean ignoreEos, Integer n, Boolean stream, StreamOptions streamOptions,
                                    Integer logprobs, Boolean echo, String user) implements SamplingFields {
    }
}

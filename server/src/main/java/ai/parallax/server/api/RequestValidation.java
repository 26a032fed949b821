package ai.parallax.server.api;

import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.sampling.SamplingParams;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks the parameters of a request against OpenAI's documented ranges and turns them into engine requests. Every
 * refusal names the parameter and the problem (HTTP 400).
 */
final class RequestValidation {
    static final int MAX_CHOICES = 16;
    static final int MAX_STOP_STRINGS = 16;
    static final int MAX_TOP_LOGPROBS = 20;
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    private RequestValidation() {
    }

    /** The sampling parameters of a request, with OpenAI's defaults (temperature 1, top_p 1). */
    static SamplingParams sampling(ApiRequests.SamplingFields r, int choice) {
        double temperature = range("temperature", r.temperature(), 1.0, 0, 2);
        double topP = range("top_p", r.topP(), 1.0, 0, 1);
        if (topP == 0) {
            throw ApiException.invalid("top_p", "top_p must be in (0, 1], got 0");
        }
        int topK = r.topK() == null || r.topK() == -1 ? 0 : r.topK();
        if (topK < 0) {
            throw ApiException.invalid("top_k", "top_k must be >= 0 (0 or -1 turn it off), got " + topK);
        }
        double minP = range("min_p", r.minP(), 0.0, 0, 1);
        double presence = range("presence_penalty", r.presencePenalty(), 0.0, -2, 2);
        double frequency = range("frequency_penalty", r.frequencyPenalty(), 0.0, -2, 2);
        double repetition = range("repetition_penalty", r.repetitionPenalty(), 1.0, Double.MIN_VALUE, 10);
        Long seed = r.seed() == null ? null : r.seed() + choice; // n choices with one seed must still differ
        return new SamplingParams(temperature, topK, topP, minP, repetition, presence, frequency, seed);
    }

    static int choices(Integer n) {
        int value = n == null ? 1 : n;
        if (value < 1 || value > MAX_CHOICES) {
            throw ApiException.invalid("n", "n must be between 1 and " + MAX_CHOICES + ", got " + value);
        }
        return value;
    }

    static List<String> stopStrings(JsonNode stop) {
        if (stop == null || stop.isNull()) {
            return List.of();
        }
        if (stop.isTextual()) {
            return List.of(stop.asText());
        }
        if (!stop.isArray()) {
            throw ApiException.invalid("stop", "stop must be a string or an array of strings, got " + stop.getNodeType());
        }
        if (stop.size() > MAX_STOP_STRINGS) {
            throw ApiException.invalid("stop", "at most " + MAX_STOP_STRINGS + " stop strings, got " + stop.size());
        }
        List<String> out = new ArrayList<>();
        for (JsonNode s : stop) {
            if (!s.isTextual()) {
                throw ApiException.invalid("stop", "every stop sequence must be a string, got " + s.getNodeType());
            }
            out.add(s.asText());
        }
        return out;
    }

    /**
     * The token budget: {@code requested} if given (it must fit the context after the prompt), else all the room
     * the context leaves.
     */
    static int maxTokens(String param, Integer requested, int promptTokens, int contextLimit) {
        int room = contextLimit - promptTokens;
        if (room <= 0) {
            throw contextLengthExceeded(promptTokens, contextLimit);
        }
        if (requested == null) {
            return room;
        }
        if (requested < 1) {
            throw ApiException.invalid(param, param + " must be at least 1, got " + requested);
        }
        if (requested > room) {
            throw ApiException.invalid(param, param + " is " + requested + " but the prompt has " + promptTokens
                    + " tokens and the context holds " + contextLimit + ": at most " + room + " can be generated");
        }
        return requested;
    }

    static ApiException contextLengthExceeded(int promptTokens, int contextLimit) {
        return new ApiException(400, "invalid_request_error", "messages", "context_length_exceeded",
                "This model's maximum context length is " + contextLimit + " tokens, but the prompt has "
                        + promptTokens + " tokens (at least one more is needed for the reply)");
    }

    static GenerationRequest generation(ApiRequests.SamplingFields r, int[] prompt, int maxTokens, int choice,
                                        int logprobs) {
        Set<Integer> stopIds = new HashSet<>(r.stopTokenIds() == null ? List.of() : r.stopTokenIds());
        stopIds.remove(null);
        return new GenerationRequest(prompt, maxTokens, sampling(r, choice), stopStrings(r.stop()), stopIds,
                Boolean.TRUE.equals(r.ignoreEos()), logprobs);
    }

    static int topLogprobs(Boolean logprobs, Integer top) {
        if (!Boolean.TRUE.equals(logprobs)) {
            if (top != null && top > 0) {
                throw ApiException.invalid("top_logprobs", "top_logprobs needs logprobs set to true");
            }
            return -1;
        }
        int value = top == null ? 0 : top;
        if (value < 0 || value > MAX_TOP_LOGPROBS) {
            throw ApiException.invalid("top_logprobs", "top_logprobs must be between 0 and " + MAX_TOP_LOGPROBS
                    + ", got " + value);
        }
        return value;
    }

    /** Messages as the chat template sees them: plain maps, content as one string. */
    static List<Map<String, Object>> templateMessages(List<ApiRequests.ChatMessage> messages, ObjectMapper json) {
        if (messages == null || messages.isEmpty()) {
            throw ApiException.invalid("messages", "messages must be a non-empty array");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            ApiRequests.ChatMessage m = messages.get(i);
            String param = "messages[" + i + "]";
            if (m == null) {
                throw ApiException.invalid(param, param + " is null");
            }
            if (m.role() == null || !ROLES.contains(m.role())) {
                throw ApiException.invalid(param + ".role", param + ".role must be one of " + ROLES + ", got "
                        + (m.role() == null ? "nothing" : "\"" + m.role() + "\""));
            }
            Map<String, Object> map = new LinkedHashMap<>();
            // "developer" is OpenAI's newer name for the system role; templates know "system".
            map.put("role", m.role().equals("developer") ? "system" : m.role());
            String content = contentText(m.content(), param + ".content");
            boolean hasToolCalls = m.toolCalls() != null && !m.toolCalls().isEmpty();
            if (content == null && !(m.role().equals("assistant") && hasToolCalls)) {
                throw ApiException.invalid(param + ".content", param + ".content is required for a " + m.role()
                        + " message");
            }
            map.put("content", content == null ? "" : content);
            if (m.name() != null) {
                map.put("name", m.name());
            }
            if (hasToolCalls) {
                List<Object> calls = new ArrayList<>();
                for (JsonNode call : m.toolCalls()) {
                    JsonNode function = call.path("function");
                    if (!function.path("name").isTextual()) {
                        throw ApiException.invalid(param + ".tool_calls", "every tool call needs function.name");
                    }
                    calls.add(json.convertValue(call, Map.class));
                }
                map.put("tool_calls", calls);
            }
            if (m.toolCallId() != null) {
                map.put("tool_call_id", m.toolCallId());
            }
            if (m.reasoningContent() != null) {
                map.put("reasoning_content", m.reasoningContent());
            }
            out.add(map);
        }
        return out;
    }

    /** A string, or the text parts of a content array joined; null for absent/null content. */
    static String contentText(JsonNode content, String param) {
        if (content == null || content.isNull()) {
            return null;
        }
        if (content.isTextual()) {
            return content.asText();
        }
        if (content.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : content) {
                if (!"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                    throw ApiException.invalid(param, "only text content parts ({\"type\": \"text\", \"text\": …}) "
                            + "are supported, got " + part);
                }
                text.append(part.get("text").asText());
            }
            return text.toString();
        }
        throw ApiException.invalid(param, param + " must be a string or an array of text parts, got "
                + content.getNodeType());
    }

    /** Tool definitions for the template, or null when there are none or tool_choice is "none". */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> tools(List<JsonNode> tools, JsonNode toolChoice, ObjectMapper json) {
        if (toolChoice != null && !toolChoice.isNull()) {
            boolean known = toolChoice.isTextual() && Set.of("none", "auto", "required").contains(toolChoice.asText())
                    || toolChoice.isObject() && toolChoice.path("function").path("name").isTextual();
            if (!known) {
                throw ApiException.invalid("tool_choice", "tool_choice must be \"none\", \"auto\", \"required\" or "
                        + "{\"type\": \"function\", \"function\": {\"name\": …}}, got " + toolChoice);
            }
            if (toolChoice.isTextual() && toolChoice.asText().equals("none")) {
                return null;
            }
        }
        if (tools == null || tools.isEmpty()) {
            return null;
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < tools.size(); i++) {
            JsonNode tool = tools.get(i);
            if (tool == null || !tool.isObject() || !"function".equals(tool.path("type").asText())
                    || !tool.path("function").path("name").isTextual()) {
                throw ApiException.invalid("tools[" + i + "]", "tools[" + i + "] must be {\"type\": \"function\", "
                        + "\"function\": {\"name\": …, \"parameters\": …}}");
            }
            out.add(json.convertValue(tool, Map.class));
        }
        return out;
    }

    private static double range(String param, Double value, double fallback, double min, double max) {
        if (value == null) {
            return fallback;
        }
        if (!(value >= min && value <= max)) {
            throw ApiException.invalid(param, param + " must be between " + trim(min) + " and " + trim(max)
                    + ", got " + value);
        }
        return value;
    }

    private static String trim(double v) {
        return v == Double.MIN_VALUE ? "0 (exclusive)" : v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}

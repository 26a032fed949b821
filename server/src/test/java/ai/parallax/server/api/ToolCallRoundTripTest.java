package ai.parallax.server.api;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.models.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Tool calls in Qwen's format: the parser on model-format strings (the tiny random model's text is noise, so the
 * strings are fed directly), and the Qwen3 template's rendering of the tool definitions, the assistant's call and the
 * tool's result.
 */
class ToolCallRoundTripTest {
    private static final Path QWEN3_TOKENIZER = Path.of(System.getProperty("parallax.models"), "tokenizer-qwen3");

    private static final String REPLY = "<think>\nThe user wants the weather.\n</think>\n\n"
            + "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

    @Test
    void wholeReplySplitsIntoReasoningContentAndToolCall() {
        AssistantOutputParser parser = new AssistantOutputParser(false);
        AssistantOutputParser.Deltas a = parser.feed(REPLY);
        AssistantOutputParser.Deltas b = parser.finish();
        assertThat(a.reasoning() + b.reasoning()).isEqualTo("\nThe user wants the weather.\n");
        assertThat(a.content() + b.content()).isEqualTo("Let me check.\n");
        assertThat(a.toolCalls()).containsExactly(
                new AssistantOutputParser.ParsedToolCall("get_weather", "{\"city\":\"Paris\"}"));
    }

    @Test
    void streamingCharacterByCharacterGivesTheSameResultAndNeverShowsATag() {
        AssistantOutputParser parser = new AssistantOutputParser(false);
        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        int calls = 0;
        for (int i = 0; i < REPLY.length(); i++) {
            AssistantOutputParser.Deltas d = parser.feed(REPLY.substring(i, i + 1));
            assertThat(d.content()).doesNotContain("<").doesNotContain(">");
            content.append(d.content());
            reasoning.append(d.reasoning());
            calls += d.toolCalls().size();
        }
        AssistantOutputParser.Deltas end = parser.finish();
        content.append(end.content());
        calls += end.toolCalls().size();
        assertThat(reasoning.toString()).isEqualTo("\nThe user wants the weather.\n");
        assertThat(content.toString()).isEqualTo("Let me check.\n");
        assertThat(calls).isEqualTo(1);
    }

    @Test
    void brokenToolCallJsonStaysVisibleAsContent() {
        AssistantOutputParser parser = new AssistantOutputParser(false);
        String reply = "<tool_call>{not json}</tool_call>";
        String content = parser.feed(reply).content() + parser.finish().content();
        assertThat(content).isEqualTo(reply);
        assertThat(parser.toolCallCount()).isZero();
    }

    @Test
    void textWithoutTagsPassesThroughUnchanged() {
        AssistantOutputParser parser = new AssistantOutputParser(false);
        String text = "a < b and c > d, <b>bold</b>";
        assertThat(parser.feed(text).content() + parser.finish().content()).isEqualTo(text);
    }

    @Test
    void qwenTemplateRendersToolsTheCallAndItsResult() throws Exception {
        Tokenizer tokenizer = Tokenizer.load(QWEN3_TOKENIZER);
        ChatPromptFormatter chat = ChatPromptFormatter.forModel(QWEN3_TOKENIZER, tokenizer, null);
        assertThat(chat.isFallback()).isFalse();
        List<Map<String, Object>> tools = List.of(Map.of("type", "function", "function", Map.of(
                "name", "get_weather", "description", "Weather of a city",
                "parameters", Map.of("type", "object", "properties", Map.of("city", Map.of("type", "string"))))));
        ApiRequests.ChatCompletionRequest request = OpenAiApi.parse(("""
                {"messages": [
                  {"role": "user", "content": "Weather in Paris?"},
                  {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}}]},
                  {"role": "tool", "tool_call_id": "call_1", "content": "{\\"temp_c\\": 21}"}
                ]}""").getBytes(java.nio.charset.StandardCharsets.UTF_8), ApiRequests.ChatCompletionRequest.class);
        String prompt = chat.render(RequestValidation.templateMessages(request.messages(), OpenAiApi.JSON), tools,
                null);
        assertThat(prompt).contains("<tools>").contains("\"name\": \"get_weather\"");
        assertThat(prompt).contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                + "</tool_call>");
        assertThat(prompt).contains("<|im_start|>user\n<tool_response>\n{\"temp_c\": 21}\n</tool_response>"
                + "<|im_end|>");
        assertThat(prompt).endsWith("<|im_start|>assistant\n");
    }
}

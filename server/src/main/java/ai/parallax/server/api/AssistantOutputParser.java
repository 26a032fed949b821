package ai.parallax.server.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a model's streamed reply into the three things OpenAI's API carries apart: reasoning (Qwen3's
 * {@code <think>…</think>}), content, and tool calls (Qwen's {@code <tool_call>{"name": …, "arguments": …}</tool_call>},
 * as Qwen2.5/Qwen3 chat templates instruct). A pure decision: text in, deltas out.
 *
 * <p>Text that could be the start of a tag is held back until it is known, so a client never sees half a tag. A tool
 * call is emitted whole once its closing tag arrives; one whose JSON does not parse is passed on as content.
 */
public final class AssistantOutputParser {
    private static final String THINK_OPEN = "<think>";
    private static final String THINK_CLOSE = "</think>";
    private static final String TOOL_OPEN = "<tool_call>";
    private static final String TOOL_CLOSE = "</tool_call>";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A tool call the model made; {@code arguments} is JSON text, as OpenAI sends it. */
    public record ParsedToolCall(String name, String arguments) {
    }

    /** What became final with one piece of text. Empty strings mean nothing new. */
    public record Deltas(String content, String reasoning, List<ParsedToolCall> toolCalls) {
        public boolean isEmpty() {
            return content.isEmpty() && reasoning.isEmpty() && toolCalls.isEmpty();
        }
    }

    private enum State { START, CONTENT, REASONING, TOOL_CALL }

    private final StringBuilder pending = new StringBuilder();
    private State state;
    private boolean afterThink;
    private int toolCallCount;

    /** @param startsInReasoning the prompt already opened {@code <think>} (templates that force thinking do) */
    public AssistantOutputParser(boolean startsInReasoning) {
        this.state = startsInReasoning ? State.REASONING : State.START;
    }

    public int toolCallCount() {
        return toolCallCount;
    }

    public Deltas feed(String text) {
        pending.append(text);
        return drain(false);
    }

    /** The end of the reply: whatever is held back is released. */
    public Deltas finish() {
        return drain(true);
    }

    private Deltas drain(boolean end) {
        StringBuilder content = new StringBuilder();
        StringBuilder reasoning = new StringBuilder();
        List<ParsedToolCall> calls = new ArrayList<>();
        boolean progress = true;
        while (progress) {
            progress = false;
            switch (state) {
                case START -> {
                    // Only the very start of a reply may open a reasoning block.
                    int firstNonSpace = 0;
                    while (firstNonSpace < pending.length() && Character.isWhitespace(pending.charAt(firstNonSpace))) {
                        firstNonSpace++;
                    }
                    String rest = pending.substring(firstNonSpace);
                    if (rest.startsWith(THINK_OPEN)) {
                        pending.delete(0, firstNonSpace + THINK_OPEN.length());
                        state = State.REASONING;
                        progress = true;
                    } else if (end || !THINK_OPEN.startsWith(rest)) {
                        state = State.CONTENT;
                        progress = true;
                    }
                }
                case REASONING -> {
                    int close = pending.indexOf(THINK_CLOSE);
                    if (close >= 0) {
                        reasoning.append(pending, 0, close);
                        pending.delete(0, close + THINK_CLOSE.length());
                        state = State.CONTENT;
                        afterThink = true;
                        progress = true;
                    } else {
                        int keep = end ? 0 : heldBack(THINK_CLOSE);
                        reasoning.append(pending, 0, pending.length() - keep);
                        pending.delete(0, pending.length() - keep);
                    }
                }
                case CONTENT -> {
                    if (afterThink) {
                        // Templates put a blank line after </think>; it is layout, not content.
                        int skip = 0;
                        while (skip < pending.length() && (pending.charAt(skip) == '\n' || pending.charAt(skip) == ' ')) {
                            skip++;
                        }
                        pending.delete(0, skip);
                        if (pending.isEmpty() && !end) {
                            break;
                        }
                        afterThink = false;
                    }
                    int open = pending.indexOf(TOOL_OPEN);
                    if (open >= 0) {
                        content.append(pending, 0, open);
                        pending.delete(0, open + TOOL_OPEN.length());
                        state = State.TOOL_CALL;
                        progress = true;
                    } else {
                        int keep = end ? 0 : heldBack(TOOL_OPEN);
                        content.append(pending, 0, pending.length() - keep);
                        pending.delete(0, pending.length() - keep);
                    }
                }
                case TOOL_CALL -> {
                    int close = pending.indexOf(TOOL_CLOSE);
                    if (close >= 0 || end) {
                        String body = close >= 0 ? pending.substring(0, close) : pending.toString();
                        pending.delete(0, close >= 0 ? close + TOOL_CLOSE.length() : pending.length());
                        ParsedToolCall call = parseCall(body);
                        if (call != null) {
                            calls.add(call);
                            toolCallCount++;
                        } else {
                            content.append(TOOL_OPEN).append(body).append(close >= 0 ? TOOL_CLOSE : "");
                        }
                        state = State.CONTENT;
                        progress = close >= 0;
                    }
                }
            }
        }
        // Content between tool calls is whitespace the template's format needs; once a call was made it is not text.
        String text = content.toString();
        if (toolCallCount > 0 && text.isBlank()) {
            text = "";
        }
        return new Deltas(text, reasoning.toString(), List.copyOf(calls));
    }

    /** How many trailing chars of pending could be the start of {@code tag}. */
    private int heldBack(String tag) {
        int max = Math.min(tag.length() - 1, pending.length());
        for (int len = max; len > 0; len--) {
            int from = pending.length() - len;
            int i = 0;
            while (i < len && pending.charAt(from + i) == tag.charAt(i)) {
                i++;
            }
            if (i == len) {
                return len;
            }
        }
        return 0;
    }

    private static ParsedToolCall parseCall(String body) {
        try {
            JsonNode node = JSON.readTree(body.strip());
            if (node == null || !node.isObject() || !node.path("name").isTextual()) {
                return null;
            }
            JsonNode arguments = node.get("arguments");
            String args;
            if (arguments == null || arguments.isNull()) {
                args = "{}";
            } else if (arguments.isTextual()) {
                args = arguments.asText();
            } else {
                args = JSON.writeValueAsString(arguments);
            }
            return new ParsedToolCall(node.get("name").asText(), args);
        } catch (java.io.IOException e) {
            return null;
        }
    }
}

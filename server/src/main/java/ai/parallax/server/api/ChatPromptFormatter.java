package ai.parallax.server.api;

import ai.parallax.models.chat.ChatTemplate;
import ai.parallax.models.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns chat messages into the prompt text of one model: its own {@code chat_template}, a template file given with
 * {@code --chat-template}, or, for a base model without one (stories260K), the fallback {@link #FALLBACK_TEMPLATE}:
 * BOS, then the message contents joined by newlines, so "continue this text" works through the chat API too.
 */
public final class ChatPromptFormatter {
    /** The template of models without one: BOS, then each message's content, one per line. */
    public static final String FALLBACK_TEMPLATE = "{{ bos_token if bos_token is defined else '' }}"
            + "{% for message in messages %}{% if not loop.first %}\n{% endif %}"
            + "{{ message['content'] if message['content'] is string else '' }}{% endfor %}";

    private final ChatTemplate template;
    private final String source;
    private final boolean fallback;

    private ChatPromptFormatter(ChatTemplate template, String source, boolean fallback) {
        this.template = template;
        this.source = source;
        this.fallback = fallback;
    }

    /**
     * The formatter for the model in {@code modelDir}: {@code overrideFile} if given, else the model's
     * tokenizer_config.json template, else the fallback.
     */
    public static ChatPromptFormatter forModel(Path modelDir, Tokenizer tokenizer, Path overrideFile) {
        Path configFile = modelDir.resolve("tokenizer_config.json");
        Map<String, Object> specialTokens = specialTokens(configFile, tokenizer);
        if (overrideFile != null) {
            String text;
            try {
                text = Files.readString(overrideFile);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the chat template " + overrideFile, e);
            }
            return new ChatPromptFormatter(ChatTemplate.of(text, specialTokens), text, false);
        }
        JsonNode templateNode = readJson(configFile).path("chat_template");
        if (templateNode.isMissingNode() || templateNode.isNull()) {
            return new ChatPromptFormatter(ChatTemplate.of(FALLBACK_TEMPLATE, specialTokens), FALLBACK_TEMPLATE, true);
        }
        return new ChatPromptFormatter(ChatTemplate.fromTokenizerConfig(configFile),
                templateNode.isTextual() ? templateNode.asText() : templateNode.toString(), false);
    }

    /** The template source, shown in /v1/models. */
    public String source() {
        return source;
    }

    public boolean isFallback() {
        return fallback;
    }

    /** The prompt text for a conversation, ending with the header that starts the assistant's reply. */
    public String render(List<Map<String, Object>> messages, List<Map<String, Object>> tools,
                         Map<String, Object> kwargs) {
        return template.render(messages, tools, true, kwargs);
    }

    private static Map<String, Object> specialTokens(Path configFile, Tokenizer tokenizer) {
        Map<String, Object> tokens = new LinkedHashMap<>();
        JsonNode config = readJson(configFile);
        for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            JsonNode v = config.path(key);
            String text = v.isTextual() ? v.asText() : v.path("content").isTextual() ? v.path("content").asText() : null;
            if (text != null && !text.isEmpty()) {
                tokens.put(key, text);
            }
        }
        if (!tokens.containsKey("bos_token") && tokenizer.bosTokenId().isPresent()) {
            tokens.put("bos_token", tokenizer.token(tokenizer.bosTokenId().getAsInt()));
        }
        return tokens;
    }

    private static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            return new ObjectMapper().createObjectNode();
        }
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}

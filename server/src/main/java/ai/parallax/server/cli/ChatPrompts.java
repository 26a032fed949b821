package ai.parallax.server.cli;

import ai.parallax.models.chat.ChatTemplate;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Builds the chat-formatted prompt of {@code generate --chat}: an optional system message and one user turn. */
final class ChatPrompts {
    private ChatPrompts() {
    }

    static String render(Path modelDirectory, String system, String user) {
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(modelDirectory.resolve("tokenizer_config.json"));
        List<Map<String, Object>> messages = new ArrayList<>();
        if (system != null) {
            messages.add(Map.of("role", "system", "content", system));
        }
        messages.add(Map.of("role", "user", "content", user));
        return template.render(messages, null, true, Map.of());
    }
}

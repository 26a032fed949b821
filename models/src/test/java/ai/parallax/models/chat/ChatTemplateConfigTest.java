package ai.parallax.models.chat;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading tokenizer_config.json, choosing among named templates, and what the template sees. */
class ChatTemplateConfigTest {
    @TempDir
    Path dir;

    private Path config(String json) throws IOException {
        Path file = dir.resolve("tokenizer_config.json");
        Files.writeString(file, json);
        return file;
    }

    private static final List<Map<String, Object>> HELLO = List.of(Map.of("role", "user", "content", "hi"));

    @Test
    void namedTemplatesPickToolUseOnlyWhenToolsAreGiven() throws IOException {
        ChatTemplate chat = ChatTemplate.fromTokenizerConfig(config("""
                {"chat_template": [{"name": "default", "template": "D{{ tools }}"},
                                   {"name": "tool_use", "template": "T{{ tools|length }}"}]}"""));

        assertThat(chat.templateNames()).containsExactlyInAnyOrder("default", "tool_use");
        assertThat(chat.render(HELLO, null, false, null)).isEqualTo("DNone");
        assertThat(chat.render(HELLO, List.of(Map.of("type", "function")), false, null)).isEqualTo("T1");
    }

    @Test
    void namedTemplatesWithoutDefaultAreRefusedWhenNoneApplies() throws IOException {
        ChatTemplate chat = ChatTemplate.fromTokenizerConfig(config("""
                {"chat_template": [{"name": "tool_use", "template": "T"}]}"""));

        assertThat(chat.render(HELLO, List.of(), false, null)).isEqualTo("T");
        TemplateException e = catchThrowableOfType(TemplateException.class, () -> chat.render(HELLO, null, false, null));
        assertThat(e.getMessage()).contains("[tool_use]").contains("\"default\"");
    }

    @Test
    void specialTokensMayBeObjectsAndUnsetOnesAreUndefined() throws IOException {
        ChatTemplate chat = ChatTemplate.fromTokenizerConfig(config("""
                {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "unk_token": null,
                 "pad_token": "", "additional_special_tokens": ["<a>", {"content": "<b>"}],
                 "chat_template": "{{ bos_token }}|{{ eos_token }}|{{ unk_token is defined }}|{{ pad_token is defined }}|{{ additional_special_tokens }}"}"""));

        assertThat(chat.render(HELLO, null, false, null)).isEqualTo("<s>|</s>|False|False|['<a>', '<b>']");
    }

    @Test
    void kwargsWinOverSpecialTokens() {
        ChatTemplate chat = ChatTemplate.of("{{ bos_token }}{{ enable_thinking }}", Map.of("bos_token", "<s>"));

        assertThat(chat.render(HELLO, null, false, Map.of("bos_token", "<B>", "enable_thinking", false)))
                .isEqualTo("<B>False");
    }

    @Test
    void missingChatTemplateIsAClearError() throws IOException {
        Path file = config("{\"eos_token\": \"</s>\"}");

        TemplateException e = catchThrowableOfType(TemplateException.class, () -> ChatTemplate.fromTokenizerConfig(file));

        assertThat(e.getMessage()).contains("has no \"chat_template\"");
    }

    @Test
    void namedTemplateWithSyntaxErrorNamesTheTemplate() throws IOException {
        Path file = config("{\"chat_template\": [{\"name\": \"default\", \"template\": \"ok\"}, "
                + "{\"name\": \"rag\", \"template\": \"{% if %}\"}]}");

        TemplateException e = catchThrowableOfType(TemplateException.class, () -> ChatTemplate.fromTokenizerConfig(file));

        assertThat(e.getMessage()).startsWith("chat template 'rag': line 1, column 7:");
    }

    @Test
    void strftimeNowReadsTheClock() {
        Clock clock = Clock.fixed(Instant.parse("2024-07-26T09:05:03Z"), ZoneOffset.UTC);
        ChatTemplate chat = ChatTemplate.of("Today Date: {{ strftime_now('%d %b %Y') }} {{ strftime_now('%A %B %-d %H:%M:%S %y %j %I%p') }}",
                Map.of()).withClock(clock);

        assertThat(chat.render(HELLO, null, false, null))
                .isEqualTo("Today Date: 26 Jul 2024 Friday July 26 09:05:03 24 208 09AM");
    }

    @Test
    void javaNumbersKeepIntegerAndFloatApart() {
        Map<String, Object> args = new LinkedHashMap<>();
        args.put("count", 3);
        args.put("ratio", 1.0);
        args.put("big", 12345678901L);
        args.put("nothing", null);
        List<Object> list = new ArrayList<>();
        list.add(0.5f);
        list.add(true);
        args.put("list", list);
        ChatTemplate chat = ChatTemplate.of("{{ args|tojson }} {{ args.count + 1 }} {{ args.ratio }} {{ args }}", Map.of());

        assertThat(chat.render(HELLO, null, false, Map.of("args", args))).isEqualTo(
                "{\"count\": 3, \"ratio\": 1.0, \"big\": 12345678901, \"nothing\": null, \"list\": [0.5, true]} 4 1.0 "
                        + "{'count': 3, 'ratio': 1.0, 'big': 12345678901, 'nothing': None, 'list': [0.5, True]}");
    }

    @Test
    void callerDataIsNotModifiedAndTemplateIsReusable() {
        List<Map<String, Object>> messages = new ArrayList<>();
        messages.add(new LinkedHashMap<>(Map.of("role", "user", "content", "a")));
        ChatTemplate chat = ChatTemplate.of("{% for m in messages %}{{ m.role }}:{{ m.content }}{% endfor %}"
                + "{% if add_generation_prompt %}>{% endif %}", Map.of());

        assertThat(chat.render(messages, null, true, null)).isEqualTo("user:a>");
        assertThat(chat.render(messages, null, false, null)).isEqualTo("user:a");
    }
}

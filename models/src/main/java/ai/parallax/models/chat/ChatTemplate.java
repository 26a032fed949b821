package ai.parallax.models.chat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model's Hugging Face chat template, rendered exactly as transformers' {@code apply_chat_template(...,
 * tokenize=False)} renders it: Jinja2 with {@code trim_blocks}, {@code lstrip_blocks}, loop controls, an immutable
 * sandbox, lenient undefined, Python-{@code json.dumps} {@code tojson}, {@code raise_exception} and
 * {@code strftime_now}.
 *
 * <p>The template sees {@code messages}, {@code tools} (a list or None), {@code documents=None},
 * {@code add_generation_prompt}, the special tokens the tokenizer config sets, then the caller's kwargs (which win
 * over special tokens). Messages and tools are JSON-shaped Java values (Map, List, String, Number, Boolean, null),
 * for instance what Jackson reads into {@code Object}; integers and floats stay distinct ({@code 1} vs {@code 1.0}).
 *
 * <p>Instances are immutable and thread-safe; templates are parsed once, when the instance is created.
 */
public final class ChatTemplate {
    /** transformers' {@code SPECIAL_TOKENS_ATTRIBUTES}, the keys of {@code special_tokens_map}. */
    private static final List<String> SPECIAL_TOKEN_KEYS = List.of("bos_token", "eos_token", "unk_token", "sep_token",
            "pad_token", "cls_token", "mask_token", "additional_special_tokens");
    private static final Set<String> RESERVED = Set.of("messages", "tools", "add_generation_prompt");

    private final Map<String, Parsed> templates;
    private final Map<String, Object> specialTokens;
    private final Clock clock;

    private record Parsed(SourceText source, List<JinjaNode.Stmt> body) {
        static Parsed of(String template) {
            SourceText source = new SourceText(template);
            return new Parsed(source, JinjaParser.parse(source));
        }
    }

    private ChatTemplate(Map<String, Parsed> templates, Map<String, Object> specialTokens, Clock clock) {
        this.templates = templates;
        this.specialTokens = specialTokens;
        this.clock = clock;
    }

    /**
     * Reads {@code chat_template} and the special tokens from a {@code tokenizer_config.json}. The template may be
     * one string or a list of {@code {name, template}} objects; then "tool_use" is used when tools are given and
     * exists, "default" otherwise, as transformers chooses.
     *
     * @throws TemplateException when the config has no chat template or a template does not parse
     */
    public static ChatTemplate fromTokenizerConfig(Path tokenizerConfigJson) {
        JsonNode config;
        try {
            config = new ObjectMapper().readTree(tokenizerConfigJson.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tokenizer config " + tokenizerConfigJson, e);
        }
        if (config == null || !config.isObject()) {
            throw new TemplateException(tokenizerConfigJson + " is not a JSON object");
        }
        JsonNode chatTemplate = config.get("chat_template");
        if (chatTemplate == null || chatTemplate.isNull()) {
            throw new TemplateException(tokenizerConfigJson + " has no \"chat_template\"; this tokenizer cannot format "
                    + "chat messages (look for chat_template.jinja or chat_template.json beside it)");
        }
        Map<String, String> sources = new LinkedHashMap<>();
        if (chatTemplate.isTextual()) {
            sources.put("default", chatTemplate.asText());
        } else if (chatTemplate.isArray()) {
            for (JsonNode entry : chatTemplate) {
                JsonNode name = entry.get("name");
                JsonNode template = entry.get("template");
                if (name == null || !name.isTextual() || template == null || !template.isTextual()) {
                    throw new TemplateException(tokenizerConfigJson + ": every entry of the \"chat_template\" list needs "
                            + "string fields \"name\" and \"template\", got " + entry);
                }
                sources.put(name.asText(), template.asText());
            }
        } else {
            throw new TemplateException(tokenizerConfigJson + ": \"chat_template\" must be a string or a list of "
                    + "{name, template} objects, got " + chatTemplate.getNodeType());
        }
        Map<String, Object> tokens = new LinkedHashMap<>();
        for (String key : SPECIAL_TOKEN_KEYS) {
            JsonNode value = config.get(key);
            if (value == null || value.isNull()) continue;
            Object token = key.equals("additional_special_tokens") ? tokenList(value) : tokenText(value);
            if (PythonValues.isTrue(token)) tokens.put(key, token); // transformers leaves unset or empty tokens out
        }
        return fromSources(sources, tokens);
    }

    private static Object tokenText(JsonNode value) {
        if (value.isTextual()) return value.asText();
        if (value.isObject() && value.get("content") != null && value.get("content").isTextual()) {
            return value.get("content").asText();
        }
        throw new TemplateException("a special token must be a string or an object with \"content\", got " + value);
    }

    private static Object tokenList(JsonNode value) {
        if (!value.isArray()) throw new TemplateException("\"additional_special_tokens\" must be a list, got " + value);
        List<Object> out = new ArrayList<>();
        for (JsonNode token : value) out.add(tokenText(token));
        return out;
    }

    /**
     * A template from source text. {@code specialTokens} are passed to the template as variables (for example
     * {@code bos_token}); leave out the ones the tokenizer does not set, since templates test {@code is defined}.
     */
    public static ChatTemplate of(String source, Map<String, Object> specialTokens) {
        return fromSources(Map.of("default", source), specialTokens == null ? Map.of() : specialTokens);
    }

    private static ChatTemplate fromSources(Map<String, String> sources, Map<String, Object> specialTokens) {
        Map<String, Parsed> parsed = new LinkedHashMap<>();
        sources.forEach((name, source) -> {
            try {
                parsed.put(name, Parsed.of(source));
            } catch (TemplateException e) {
                if (sources.size() == 1) throw e;
                throw new TemplateException("chat template '" + name + "': " + e.getMessage(), e);
            }
        });
        Map<String, Object> tokens = new LinkedHashMap<>();
        specialTokens.forEach((k, v) -> tokens.put(k, PythonValues.fromJava(v)));
        return new ChatTemplate(Map.copyOf(parsed), tokens, Clock.systemDefaultZone());
    }

    /** The same template with {@code strftime_now} reading {@code clock} (for reproducible dates). */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(templates, specialTokens, clock);
    }

    /** Names of the templates this instance holds ("default" for a single template). */
    public Set<String> templateNames() {
        return templates.keySet();
    }

    /** The special tokens passed to the template. */
    public Map<String, Object> specialTokens() {
        return java.util.Collections.unmodifiableMap(specialTokens);
    }

    /**
     * Renders a conversation to the prompt text.
     *
     * @param messages            chat messages, typically {@code {role, content}} maps, possibly with
     *                            {@code tool_calls} or {@code reasoning_content}
     * @param tools               tool definitions (JSON schema maps), or null for none
     * @param addGenerationPrompt whether to end with the header that starts the assistant's reply
     * @param kwargs              extra template variables such as {@code enable_thinking}; may be null
     * @throws TemplateException  when rendering fails, including the template's own {@code raise_exception}
     */
    public String render(List<Map<String, Object>> messages, List<Map<String, Object>> tools,
                         boolean addGenerationPrompt, Map<String, Object> kwargs) {
        if (messages == null) throw new IllegalArgumentException("messages must not be null");
        Parsed template = select(tools != null);
        Map<String, Object> variables = new LinkedHashMap<>();
        JinjaBuiltins builtins = new JinjaBuiltins(clock);
        variables.putAll(builtins.globals());
        variables.put("messages", PythonValues.fromJava(messages));
        variables.put("tools", PythonValues.fromJava(tools));
        variables.put("documents", null);
        variables.put("add_generation_prompt", addGenerationPrompt);
        variables.putAll(specialTokens);
        if (kwargs != null) {
            for (Map.Entry<String, Object> e : kwargs.entrySet()) {
                if (RESERVED.contains(e.getKey())) {
                    throw new IllegalArgumentException("kwargs must not set '" + e.getKey() + "'; pass it as its own argument");
                }
                variables.put(e.getKey(), PythonValues.fromJava(e.getValue()));
            }
        }
        return new JinjaInterpreter(template.source(), builtins).render(template.body(), variables);
    }

    private Parsed select(boolean hasTools) {
        if (hasTools && templates.containsKey("tool_use")) return templates.get("tool_use");
        Parsed fallback = templates.get("default");
        if (fallback == null) {
            throw new TemplateException("none of this tokenizer's chat templates " + templates.keySet() + " is named \"default\""
                    + (hasTools ? " or \"tool_use\"" : "") + ", so transformers would not pick one either");
        }
        return fallback;
    }
}

package ai.parallax.models.chat;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Renders every case of the shared {@code expected_chat.json} files, whose {@code rendered} text came from Jinja2
 * 3.1.6 set up as transformers sets it up, and requires byte-identical output.
 */
class ChatTemplateGoldenTest {
    private static final Path MODELS = Path.of(System.getProperty("parallax.models", "../../shared/models"));

    record Case(String name, List<Map<String, Object>> messages, List<Map<String, Object>> tools,
                boolean add_generation_prompt, Map<String, Object> extra_kwargs, String rendered) { }

    static Stream<Arguments> cases() throws IOException {
        ObjectMapper json = new ObjectMapper();
        Stream<Arguments> all = Stream.empty();
        for (String tokenizer : List.of("tokenizer-qwen3", "tokenizer-llama3_1")) {
            Path folder = MODELS.resolve(tokenizer);
            List<Case> cases = json.readValue(Files.readString(folder.resolve("expected_chat.json")), new TypeReference<>() { });
            assertThat(cases).hasSize(11);
            all = Stream.concat(all, cases.stream().map(c -> Arguments.of(
                    Named.of(tokenizer + "/" + c.name(), folder.resolve("tokenizer_config.json")), c)));
        }
        return all;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void rendersExactlyAsTransformers(Path config, Case c) {
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(config);

        String actual = template.render(c.messages(), c.tools(), c.add_generation_prompt(), c.extra_kwargs());

        assertSameText(actual, c.rendered());
    }

    /** Equality with a message that points at the first differing character, with context on both sides. */
    static void assertSameText(String actual, String expected) {
        if (actual.equals(expected)) return;
        int i = 0;
        while (i < Math.min(actual.length(), expected.length()) && actual.charAt(i) == expected.charAt(i)) i++;
        int from = Math.max(0, i - 60);
        throw new AssertionError("rendered text differs at index " + i + " (expected length " + expected.length()
                + ", actual " + actual.length() + ")\n  expected: …" + escape(expected.substring(from, Math.min(expected.length(), i + 60)))
                + "\n  actual:   …" + escape(actual.substring(from, Math.min(actual.length(), i + 60))));
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t");
    }
}

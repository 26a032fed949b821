package ai.parallax.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static ai.parallax.server.cli.ParallaxCliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/** {@code parallax chat-template} renders every reference case of the real tokenizers exactly. */
class ChatTemplateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path MODELS = Path.of(System.getProperty("parallax.models"));

    @Test
    void rendersEveryExpectedChatCaseExactly(@TempDir Path dir) throws IOException {
        int cases = 0;
        for (String tokenizer : new String[] {"tokenizer-qwen3", "tokenizer-llama3_1"}) {
            Path model = MODELS.resolve(tokenizer);
            for (JsonNode c : JSON.readTree(model.resolve("expected_chat.json").toFile())) {
                Path messages = dir.resolve("messages.json");
                JSON.writeValue(messages.toFile(), c.get("messages"));
                java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(
                        "chat-template", "-m", model.toString(), "--messages", messages.toString()));
                if (c.hasNonNull("tools")) {
                    Path tools = dir.resolve("tools.json");
                    JSON.writeValue(tools.toFile(), c.get("tools"));
                    args.addAll(java.util.List.of("--tools", tools.toString()));
                }
                if (c.path("add_generation_prompt").asBoolean(false)) {
                    args.add("--add-generation-prompt");
                }
                if (c.hasNonNull("extra_kwargs") && !c.get("extra_kwargs").isEmpty()) {
                    args.addAll(java.util.List.of("--kwargs", JSON.writeValueAsString(c.get("extra_kwargs"))));
                }
                ParallaxCliTest.Run run = run(args.toArray(String[]::new));
                assertThat(run.exitCode()).as(run.err()).isZero();
                assertThat(run.out()).as("%s case %s", tokenizer, c.path("name").asText())
                        .isEqualTo(c.get("rendered").asText());
                cases++;
            }
        }
        assertThat(cases).isGreaterThan(5);
    }

    @Test
    void idsAreTheTokenizationOfTheRenderedPrompt(@TempDir Path dir) throws IOException {
        Path messages = Files.writeString(dir.resolve("m.json"), "[{\"role\":\"user\",\"content\":\"Hello\"}]");
        ParallaxCliTest.Run run = run("chat-template", "-m", MODELS.resolve("tokenizer-qwen3").toString(),
                "--messages", messages.toString(), "--add-generation-prompt", "--ids",
                "--kwargs", "{\"enable_thinking\": false}");
        assertThat(run.exitCode()).as(run.err()).isZero();
        // <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n
        assertThat(run.out().trim()).startsWith("[151644,872,198,9707,151645,198,151644,77091,198,151667,");
    }

    @Test
    void malformedMessagesAreAOneLineError(@TempDir Path dir) throws IOException {
        Path messages = Files.writeString(dir.resolve("m.json"), "{\"role\": \"user\"");
        ParallaxCliTest.Run run = run("chat-template", "-m", MODELS.resolve("tokenizer-qwen3").toString(),
                "--messages", messages.toString());
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.errLines()).singleElement().asString().contains("messages must be a JSON array of objects");
    }
}

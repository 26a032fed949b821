package ai.parallax.server.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static ai.parallax.server.cli.ParallaxCliTest.STORIES;
import static ai.parallax.server.cli.ParallaxCliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/** {@code parallax generate} end to end, in-process, against the reference data of stories260K. */
class GenerateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @Test
    void reproducesEveryReferenceGreedyContinuationTokenForToken() throws IOException {
        JsonNode expected = JSON.readTree(STORIES.resolve("expected.json").toFile());
        for (JsonNode c : expected.get("cases")) {
            int[] prompt = ints(c.get("input_ids"));
            int[] continuation = ints(c.get("greedy_continuation"));
            StringBuilder ids = new StringBuilder();
            for (int id : prompt) {
                ids.append(ids.isEmpty() ? "" : ",").append(id);
            }
            ParallaxCliTest.Run run = run("generate", "-m", STORIES.toString(), "--prompt-ids", ids.toString(),
                    "--max-tokens", Integer.toString(continuation.length), "--json");

            assertThat(run.exitCode()).as(run.err()).isZero();
            JsonNode result = JSON.readTree(run.out());
            assertThat(ints(result.get("prompt_ids"))).containsExactly(prompt);
            assertThat(ints(result.get("generated_ids"))).containsExactly(continuation);
            assertThat(result.get("finish_reason").asText()).isEqualTo("length");
            assertThat(result.get("timings").get("generated_tokens").asInt()).isEqualTo(continuation.length);
        }
    }

    @Test
    void streamsTheStoryAfterThePromptAndEndsWithSpeeds() {
        ParallaxCliTest.Run run = run("generate", "-m", STORIES.toString(), "-p", "Once upon a time",
                "--max-tokens", "20");

        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).startsWith("Once upon a time, there was a little girl named Lily.");
        assertThat(run.err()).containsPattern(
                "prefill: 5 tokens, [0-9.]+ tokens/s \\| decode: 20 tokens, [0-9.]+ tokens/s \\| length");
    }

    @Test
    void withoutAModelTheBundledStoriesModelIsUsed() {
        ParallaxCliTest.Run run = run("generate", "-p", "Once upon a time", "--max-tokens", "12", "--json");
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).contains("\"text\":\", there was a little girl named Lily.");
    }

    @Test
    void logprobsListTheChosenTokenAndAlternatives() throws IOException {
        ParallaxCliTest.Run run = run("generate", "-m", STORIES.toString(), "--prompt-ids", "1", "--max-tokens", "3",
                "--json", "--logprobs", "2");
        JsonNode logprobs = JSON.readTree(run.out()).get("logprobs");
        assertThat(logprobs).hasSize(3);
        // Reference logits after BOS: 403 ("Once") at 17.0235, 385 ("One") at 15.4062.
        JsonNode first = logprobs.get(0);
        assertThat(first.get("token_id").asInt()).isEqualTo(403);
        assertThat(first.get("top_logprobs").get(1).get("token_id").asInt()).isEqualTo(385);
        double gap = first.get("top_logprobs").get(0).get("logprob").asDouble()
                - first.get("top_logprobs").get(1).get("logprob").asDouble();
        assertThat(gap).isCloseTo(17.023515199840812 - 15.406212951091772,
                org.assertj.core.api.Assertions.within(1e-3));
    }

    @Test
    void aSeedMakesSamplingReproducible() throws IOException {
        String[] args = {"generate", "-m", STORIES.toString(), "-p", "Once", "--max-tokens", "24", "--temperature",
            "1.0", "--top-p", "0.9", "--seed", "7", "--json"};
        JsonNode a = JSON.readTree(run(args).out());
        JsonNode b = JSON.readTree(run(args).out());
        assertThat(a.get("generated_ids")).isEqualTo(b.get("generated_ids"));
        assertThat(a.get("seed").asLong()).isEqualTo(7);
    }

    @Test
    void aStopStringEndsTheText() throws IOException {
        JsonNode result = JSON.readTree(run("generate", "-m", STORIES.toString(), "-p", "Once upon a time",
                "--stop", "Lily", "--json").out());
        assertThat(result.get("text").asText()).isEqualTo(", there was a little girl named ");
        assertThat(result.get("finish_reason").asText()).isEqualTo("stop");
    }

    @Test
    void aCorruptModelFileIsOneLineErrorWithoutStackTrace(@TempDir Path dir) throws IOException {
        for (String f : new String[] {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
            Files.copy(STORIES.resolve(f), dir.resolve(f));
        }
        byte[] weights = Files.readAllBytes(STORIES.resolve("model.safetensors"));
        Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));

        ParallaxCliTest.Run run = run("generate", "-m", dir.toString(), "-p", "Once");

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.errLines()).singleElement().asString().startsWith("error: ")
                .contains("model.safetensors");
        assertThat(run.err()).doesNotContain("\tat ");
    }

    @Test
    void anUnsupportedArchitectureIsNamed(@TempDir Path dir) throws IOException {
        String config = Files.readString(STORIES.resolve("config.json")).replace("\"llama\"", "\"rwkv\"");
        Files.writeString(dir.resolve("config.json"), config);
        for (String f : new String[] {"model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
            Files.copy(STORIES.resolve(f), dir.resolve(f));
        }
        ParallaxCliTest.Run run = run("generate", "-m", dir.toString(), "-p", "Once");
        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.errLines()).singleElement().asString()
                .contains("model_type \"rwkv\" is not supported (supported: llama, qwen2, qwen3");
    }

    @Test
    void chatPromptsAreRenderedWithTheModelsTemplateAndTokenizedWithoutAddedSpecials(@TempDir Path dir)
            throws IOException {
        // tiny-random-qwen3 ships weights only; give it the real Qwen3 tokenizer and chat template beside them.
        Path models = STORIES.getParent();
        for (String f : new String[] {"config.json", "generation_config.json", "model.safetensors"}) {
            Files.createSymbolicLink(dir.resolve(f), models.resolve("tiny-random-qwen3").resolve(f));
        }
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
            Files.createSymbolicLink(dir.resolve(f), models.resolve("tokenizer-qwen3").resolve(f));
        }
        Path messages = Files.writeString(dir.resolve("messages.json"),
                "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hello\"}]");
        ParallaxCliTest.Run rendered = run("chat-template", "-m", dir.toString(), "--messages", messages.toString(),
                "--add-generation-prompt", "--ids");
        ParallaxCliTest.Run generated = run("generate", "-m", dir.toString(), "--system", "Be brief.", "-p", "Hello",
                "--max-tokens", "3", "--json");

        assertThat(generated.exitCode()).as(generated.err()).isZero();
        JsonNode result = JSON.readTree(generated.out());
        assertThat(result.get("prompt_ids").toString().replace(" ", "")).isEqualTo(rendered.out().trim());
        assertThat(result.get("prompt_ids").get(0).asInt()).isEqualTo(151644); // <|im_start|>, no BOS added
        assertThat(result.get("generated_ids").size()).isBetween(1, 3);
    }
}

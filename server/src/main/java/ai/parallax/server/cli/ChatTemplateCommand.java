package ai.parallax.server.cli;

import ai.parallax.models.chat.ChatTemplate;
import ai.parallax.models.tokenizer.Tokenizer;
import ai.parallax.server.UserError;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code parallax chat-template}: render a conversation with a model's chat template and print the prompt text (or
 * its token ids), to check the template against the reference implementation.
 */
@Command(name = "chat-template",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Render chat messages with a model's chat template (from tokenizer_config.json).",
        footer = {"", "Example: parallax chat-template -m ../shared/models/Qwen3-0.6B --messages chat.json "
                + "--add-generation-prompt"})
public final class ChatTemplateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "<dir>", required = true,
            description = "Model or tokenizer directory holding tokenizer_config.json (and tokenizer.json for --ids).")
    Path model;

    @Option(names = "--messages", paramLabel = "<file.json>", required = true,
            description = "JSON array of messages: [{\"role\": \"user\", \"content\": \"...\"}, ...].")
    Path messages;

    @Option(names = "--tools", paramLabel = "<file.json>",
            description = "JSON array of tool definitions (OpenAI function format) passed to the template as 'tools'.")
    Path tools;

    @Option(names = "--add-generation-prompt",
            description = "End with the header that starts the assistant's turn.")
    boolean addGenerationPrompt;

    @Option(names = "--kwargs", paramLabel = "<json>",
            description = "Extra template variables as a JSON object, e.g. '{\"enable_thinking\": false}'.")
    String kwargs;

    @Option(names = "--ids",
            description = "Print the token ids of the rendered prompt instead of its text.")
    boolean ids;

    @Override
    public Integer call() {
        InputPaths.existingDirectory(model, "model directory");
        InputPaths.existingFile(messages, "messages file");
        if (tools != null) {
            InputPaths.existingFile(tools, "tools file");
        }
        List<Map<String, Object>> messageList = readList(messages, "messages");
        List<Map<String, Object>> toolList = tools == null ? null : readList(tools, "tools");
        Map<String, Object> extra = Map.of();
        if (kwargs != null) {
            try {
                extra = JSON.readValue(kwargs, new TypeReference<Map<String, Object>>() { });
            } catch (JsonProcessingException e) {
                throw new UserError("--kwargs is not a JSON object: " + e.getOriginalMessage());
            }
        }
        Path config = model.resolve("tokenizer_config.json");
        InputPaths.existingFile(config, "tokenizer_config.json");
        String rendered = ChatTemplate.fromTokenizerConfig(config).render(messageList, toolList, addGenerationPrompt,
                extra);
        PrintWriter out = spec.commandLine().getOut();
        if (ids) {
            Tokenizer tokenizer;
            try {
                tokenizer = Tokenizer.load(model);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            int[] tokenIds = tokenizer.encode(rendered, false);
            out.print(Arrays.stream(tokenIds).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]")));
            out.println();
        } else {
            out.print(rendered);
        }
        out.flush();
        return 0;
    }

    private static List<Map<String, Object>> readList(Path file, String what) {
        try {
            return JSON.readValue(file.toFile(), new TypeReference<List<Map<String, Object>>>() { });
        } catch (JsonProcessingException e) {
            throw new UserError(file + ": " + what + " must be a JSON array of objects: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

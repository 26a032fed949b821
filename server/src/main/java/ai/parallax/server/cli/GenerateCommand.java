package ai.parallax.server.cli;

import ai.parallax.models.WeightQuantization;
import ai.parallax.runtime.GenerationRequest;
import ai.parallax.runtime.GenerationResult;
import ai.parallax.runtime.Generator;
import ai.parallax.runtime.LocalModel;
import ai.parallax.runtime.sampling.SamplingParams;
import ai.parallax.server.UserError;
import ai.parallax.server.models.BundledModel;
import ai.parallax.tensors.ops.Ops;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code parallax generate}: complete a prompt with a local model and print the text as it is produced. */
@Command(name = "generate",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Generate text from a prompt with a local model.",
        footer = {"", "Example: parallax generate -p \"Once upon a time\" --max-tokens 64"})
public final class GenerateCommand implements Callable<Integer> {

    static final int MAX_LOGPROBS = 20;

    @Spec
    CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "<dir>",
            description = "Model directory in Hugging Face layout (config.json, *.safetensors, tokenizer.json). "
                    + "Default: the bundled stories260K.")
    Path model;

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    Prompt prompt;

    static final class Prompt {
        @Option(names = {"-p", "--prompt"}, paramLabel = "<text>", description = "The prompt text.")
        String text;

        @Option(names = "--prompt-ids", paramLabel = "<id>", split = ",",
                description = "The prompt as token ids, comma separated (e.g. 1,403,407), bypassing the tokenizer.")
        int[] tokenIds;
    }

    @Option(names = "--chat",
            description = "Wrap the prompt as a user message in the model's chat template.")
    boolean chat;

    @Option(names = "--system", paramLabel = "<text>",
            description = "System message for the chat template; implies --chat.")
    String system;

    @Option(names = "--max-tokens", paramLabel = "<n>", defaultValue = "256",
            description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "<t>", defaultValue = "0.0",
            description = "Sampling temperature. The default ${DEFAULT-VALUE} means greedy decoding (always the "
                    + "most likely token), so runs are reproducible, as with Hugging Face's generate().")
    double temperature;

    @Option(names = "--top-k", paramLabel = "<k>", defaultValue = "0",
            description = "Sample only among the k most likely tokens; 0 turns it off (default: ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--top-p", paramLabel = "<p>", defaultValue = "1.0",
            description = "Nucleus sampling: keep the smallest set of tokens whose probability reaches p "
                    + "(default: ${DEFAULT-VALUE}, off).")
    double topP;

    @Option(names = "--min-p", paramLabel = "<p>", defaultValue = "0.0",
            description = "Drop tokens less likely than p times the most likely one (default: ${DEFAULT-VALUE}, off).")
    double minP;

    @Option(names = "--repetition-penalty", paramLabel = "<r>", defaultValue = "1.0",
            description = "Make tokens already seen less likely, as in Hugging Face: their positive logits are "
                    + "divided by r, negative ones multiplied (default: ${DEFAULT-VALUE}, off).")
    double repetitionPenalty;

    @Option(names = "--seed", paramLabel = "<n>",
            description = "Random seed for sampling (default: a fresh seed per run).")
    Long seed;

    @Option(names = "--stop", paramLabel = "<text>",
            description = "Stop when the output contains this text; repeatable.")
    List<String> stop = List.of();

    @Option(names = "--json",
            description = "Print one JSON object (text, token ids, finish reason, timings) instead of streaming text.")
    boolean json;

    @Option(names = "--logprobs", paramLabel = "<n>",
            description = "Also report each generated token's log-probability and the n most likely "
                    + "alternatives (0-" + MAX_LOGPROBS + ").")
    Integer logprobs;

    @Option(names = "--threads", paramLabel = "<n>",
            description = "CPU threads for the kernels (default: physical cores).")
    Integer threads;

    @Option(names = "--device", paramLabel = "<cpu|vulkan|auto>", defaultValue = "cpu",
            description = "Where the kernels run: cpu (Vector API), vulkan (the best Vulkan device) or auto "
                    + "(a discrete GPU when present, else cpu). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--quantize", paramLabel = "<type>", defaultValue = "none",
            description = "Hold linear weights as q8 (int8 in blocks of 32, converted at load and saved beside the "
                    + "model for the next start) or none (default: ${DEFAULT-VALUE}).")
    String quantize;

    @Option(names = "--ignore-eos",
            description = "Keep generating past the end-of-sequence token, up to --max-tokens.")
    boolean ignoreEos;

    @Override
    public Integer call() {
        checkOptionValues();
        Path modelDirectory = model == null ? BundledModel.inUserCache().extract() : InputPaths.modelDirectory(model);
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long seedUsed = seed != null ? seed : new SplittableRandom().nextLong();
        SamplingParams sampling = new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, 0, 0, seedUsed);
        int contextNeeded = CONTEXT_SLACK + maxTokens;
        try (Ops ops = Backends.open(device, threads);
             TerminalProgressBar bar = TerminalProgressBar.forLoading(err, !json);
             LocalModel local = LocalModel.open(modelDirectory, ops, contextNeeded + promptLengthHint(), bar,
                     WeightQuantization.parse(quantize))) {
            bar.close();
            PromptText promptText = promptText(local);
            int[] ids = promptText.ids();
            GenerationRequest request = new GenerationRequest(ids, maxTokens, sampling, stop, Set.of(), ignoreEos,
                    logprobs == null ? -1 : logprobs);
            Generator generator = local.generator(ops);
            GenerationResult result;
            if (json) {
                result = generator.generate(request, Generator.TextListener.NONE);
                out.println(GenerateJson.render(local, result, seedUsed));
            } else {
                out.print(promptText.echo());
                out.flush();
                result = generator.generate(request, piece -> {
                    out.print(piece);
                    out.flush();
                });
                out.println();
                if (logprobs != null) {
                    GenerateJson.printLogprobs(err, local.tokenizer(), result);
                }
                GenerationResult.Timings t = result.timings();
                err.printf(Locale.ROOT, "prefill: %d tokens, %.1f tokens/s | decode: %d tokens, %.1f tokens/s | %s%n",
                        t.promptTokens(), t.prefillTokensPerSecond(), t.generatedTokens(), t.decodeTokensPerSecond(),
                        result.finishReason().openAiName());
                err.flush();
            }
            return 0;
        }
    }

    /** Positions beyond the generation budget reserved for the prompt when sizing the rotary tables. */
    private static final int CONTEXT_SLACK = 16;

    private int promptLengthHint() {
        if (prompt != null && prompt.tokenIds != null) {
            return prompt.tokenIds.length;
        }
        // Tokens never outnumber UTF-16 chars by more than the added specials; the template adds a few hundred.
        int chars = prompt != null && prompt.text != null ? prompt.text.length() : 0;
        return chars + (system != null ? system.length() : 0) + 512;
    }

    /** The prompt as token ids, and the text to echo before the continuation. */
    private record PromptText(int[] ids, String echo) {
    }

    private PromptText promptText(LocalModel local) {
        if (prompt != null && prompt.tokenIds != null) {
            return new PromptText(prompt.tokenIds.clone(), "");
        }
        String text = prompt != null && prompt.text != null ? prompt.text : "";
        if (chat || system != null) {
            String rendered = ChatPrompts.render(local.directory(), system, text);
            // The template writes the special tokens itself (BOS included), as transformers' apply_chat_template.
            return new PromptText(local.tokenizer().encode(rendered, false), "");
        }
        int[] ids = local.tokenizer().encode(text, true);
        if (ids.length == 0) {
            throw new UserError("the prompt is empty and this tokenizer adds no BOS token: give a prompt with -p");
        }
        return new PromptText(ids, text);
    }

    /** Range checks picocli's types cannot express; violations are usage errors (exit code 2). */
    void checkOptionValues() {
        require(maxTokens >= 1, "--max-tokens must be at least 1, got " + maxTokens);
        require(temperature >= 0 && Double.isFinite(temperature), "--temperature must be >= 0, got " + temperature);
        require(topK >= 0, "--top-k must be >= 0, got " + topK);
        require(topP > 0 && topP <= 1, "--top-p must be in (0, 1], got " + topP);
        require(minP >= 0 && minP <= 1, "--min-p must be in [0, 1], got " + minP);
        require(repetitionPenalty > 0 && Double.isFinite(repetitionPenalty),
                "--repetition-penalty must be > 0, got " + repetitionPenalty);
        require(logprobs == null || (logprobs >= 0 && logprobs <= MAX_LOGPROBS),
                "--logprobs must be in [0, " + MAX_LOGPROBS + "], got " + logprobs);
        require(threads == null || threads >= 1, "--threads must be at least 1, got " + threads);
        if (prompt != null && prompt.tokenIds != null) {
            for (int id : prompt.tokenIds) {
                require(id >= 0, "--prompt-ids must be non-negative token ids, got " + id);
            }
            require(!chat && system == null, "--prompt-ids cannot be combined with --chat or --system: "
                    + "token ids bypass the chat template");
        }
        for (String text : stop) {
            require(!text.isEmpty(), "--stop must not be empty");
        }
    }

    private void require(boolean condition, String message) {
        if (!condition) {
            throw new ParameterException(spec.commandLine(), message);
        }
    }
}

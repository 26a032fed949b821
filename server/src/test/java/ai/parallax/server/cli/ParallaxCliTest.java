package ai.parallax.server.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ParallaxCliTest {

    /** The stories260K reference model, the smallest real model directory there is. */
    static final Path STORIES = Path.of(System.getProperty("parallax.models"), "stories260K");

    record Run(int exitCode, String out, String err) {
        String[] errLines() {
            return err.lines().toArray(String[]::new);
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exitCode = ParallaxCli.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(exitCode, out.toString(), err.toString());
    }

    @Test
    void versionPrintsTheMavenProjectVersion() {
        Run run = run("--version");

        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).startsWith("parallax " + System.getProperty("parallax.expectedVersion") + "\n");
        assertThat(run.err()).isEmpty();
    }

    @Test
    void unknownOptionIsOneLineUsageErrorWithExitCode2() {
        Run run = run("generate", "--no-such-option");

        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.errLines()).containsExactly(
                "error: Unknown option: '--no-such-option' (see 'parallax generate --help')");
        assertThat(run.out()).isEmpty();
    }

    @Test
    void missingSubcommandIsUsageError() {
        Run run = run();

        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.errLines()).containsExactly("error: Missing required subcommand (see 'parallax --help')");
    }

    @Test
    void missingModelDirectoryIsOneLineErrorWithExitCode1() {
        Run run = run("generate", "-m", "/no/such/model", "-p", "Once upon a time");

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.errLines()).containsExactly("error: model directory not found: /no/such/model");
    }

    @Test
    void folderWithoutConfigIsRejectedAsModelDirectory(@TempDir Path empty) {
        Run run = run("generate", "-m", empty.toString());

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.errLines()).containsExactly("error: model directory has no config.json: " + empty);
    }

    @Test
    void verboseAddsTheStackTraceAtEitherPosition() {
        for (String[] args : new String[][] {
            {"-v", "generate", "-m", "/no/such/model"},
            {"generate", "--verbose", "-m", "/no/such/model"}}) {
            Run run = run(args);

            assertThat(run.exitCode()).isEqualTo(1);
            assertThat(run.errLines()[0]).isEqualTo("error: model directory not found: /no/such/model");
            assertThat(run.err()).contains("ai.parallax.server.UserError", "at ai.parallax.server.cli.");
        }
    }

    @Test
    void outOfRangeSamplingValuesAreUsageErrors() {
        assertThat(run("generate", "--temperature", "-0.5").errLines())
                .containsExactly("error: --temperature must be >= 0, got -0.5 (see 'parallax generate --help')");
        assertThat(run("generate", "--top-p", "0").exitCode()).isEqualTo(2);
        assertThat(run("generate", "--min-p", "1.5").exitCode()).isEqualTo(2);
        assertThat(run("generate", "--logprobs", "21").exitCode()).isEqualTo(2);
        assertThat(run("generate", "--max-tokens", "0").exitCode()).isEqualTo(2);
        assertThat(run("generate", "--prompt-ids", "1,-2").exitCode()).isEqualTo(2);
        assertThat(run("generate", "--max-tokens", "many").errLines()).singleElement().asString()
                .startsWith("error: Invalid value for option '--max-tokens': 'many' is not an int");
    }

    @Test
    void promptTextAndPromptIdsAreMutuallyExclusive() {
        Run run = run("generate", "-p", "hi", "--prompt-ids", "1,2");

        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.errLines()).singleElement().asString().contains("mutually exclusive");
    }

    @Test
    void generateDefaultsAreGreedyAndTwoHundredFiftySixTokens() {
        GenerateCommand generate = parse("generate", "-p", "Once upon a time");

        assertThat(generate.model).isNull();
        assertThat(generate.prompt.text).isEqualTo("Once upon a time");
        assertThat(generate.maxTokens).isEqualTo(256);
        assertThat(generate.temperature).isZero();
        assertThat(generate.topK).isZero();
        assertThat(generate.topP).isEqualTo(1.0);
        assertThat(generate.minP).isZero();
        assertThat(generate.repetitionPenalty).isEqualTo(1.0);
        assertThat(generate.seed).isNull();
        assertThat(generate.stop).isEmpty();
        assertThat(generate.logprobs).isNull();
        assertThat(generate.threads).isNull();
        assertThat(generate.chat || generate.json || generate.ignoreEos).isFalse();
    }

    @Test
    void generateParsesEveryOption() {
        GenerateCommand generate = parse("generate", "-m", "some/dir", "--prompt-ids", "1,403,407", "--max-tokens",
                "7", "--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--min-p", "0.05",
                "--repetition-penalty", "1.1", "--seed", "42", "--stop", "\n\n", "--stop", "The end", "--json",
                "--logprobs", "5", "--threads", "2", "--ignore-eos");

        assertThat(generate.model).isEqualTo(Path.of("some/dir"));
        assertThat(generate.prompt.tokenIds).containsExactly(1, 403, 407);
        assertThat(generate.maxTokens).isEqualTo(7);
        assertThat(generate.temperature).isEqualTo(0.8);
        assertThat(generate.topK).isEqualTo(40);
        assertThat(generate.topP).isEqualTo(0.95);
        assertThat(generate.minP).isEqualTo(0.05);
        assertThat(generate.repetitionPenalty).isEqualTo(1.1);
        assertThat(generate.seed).isEqualTo(42L);
        assertThat(generate.stop).containsExactly("\n\n", "The end");
        assertThat(generate.json).isTrue();
        assertThat(generate.logprobs).isEqualTo(5);
        assertThat(generate.threads).isEqualTo(2);
        assertThat(generate.ignoreEos).isTrue();
    }

    @Test
    void chatTemplateRequiresModelAndMessages() {
        Run run = run("chat-template", "--add-generation-prompt");

        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.errLines()).singleElement().asString()
                .startsWith("error: Missing required options: '--model=<dir>', '--messages=<file.json>'");
    }

    @Test
    void chatTemplateNamesAMissingMessagesFile(@TempDir Path dir) {
        Run run = run("chat-template", "-m", STORIES.toString(), "--messages", dir.resolve("chat.json").toString());

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.errLines()).containsExactly("error: messages file not found: " + dir.resolve("chat.json"));
    }

    @CommandLine.Command(name = "boom")
    static final class FailingCommand implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("tensor shape [3] does not match [4]");
        }
    }

    @Test
    void unexpectedFailuresPointToVerbose() {
        StringWriter err = new StringWriter();
        CommandLine commandLine = ParallaxCli.commandLine(new PrintWriter(new StringWriter()), new PrintWriter(err));
        commandLine.addSubcommand(new FailingCommand());
        commandLine.setErr(new PrintWriter(err)); // settings reach only the subcommands present when they are set

        int exitCode = commandLine.execute("boom");

        assertThat(exitCode).isEqualTo(1);
        assertThat(err.toString()).isEqualTo(
                "error: tensor shape [3] does not match [4] (run with --verbose for the stack trace)\n");
    }

    @Test
    void failureMessagesNameTheFileAndNeverSayNull() {
        assertThat(ParallaxCli.describe(new UncheckedIOException(new NoSuchFileException("/x/model.safetensors"))))
                .isEqualTo("no such file or directory: /x/model.safetensors");
        assertThat(ParallaxCli.describe(new NullPointerException())).isEqualTo("java.lang.NullPointerException");
        assertThat(ParallaxCli.describe(new IllegalStateException("vocab size 0"))).isEqualTo("vocab size 0");
    }

    @Test
    void helpListsTheSubcommands() {
        Run run = run("--help");

        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).contains("generate", "chat-template", "--verbose");
    }

    private static GenerateCommand parse(String... args) {
        CommandLine commandLine = ParallaxCli.commandLine(new PrintWriter(new StringWriter()),
                new PrintWriter(new StringWriter()));
        CommandLine.ParseResult result = commandLine.parseArgs(args);
        GenerateCommand generate = result.subcommand().commandSpec().commandLine().getCommand();
        generate.checkOptionValues();
        return generate;
    }
}

package ai.parallax.server.cli;

import ai.parallax.server.UserError;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.Charset;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * The {@code parallax} command line. {@code ai.parallax.launcher.Launcher} calls {@link #main} once the JVM has the
 * vector module; tests call {@link #execute} with their own streams.
 *
 * <p>Every failure ends as one line {@code error: <message>} on stderr. Exit codes: 0 success, 1 a failure while
 * running (bad model, I/O, bugs), 2 a usage error (unknown option, bad value).
 */
@Command(name = "parallax",
        mixinStandardHelpOptions = true,
        versionProvider = ParallaxCli.Version.class,
        description = "Parallax: LLM inference on the JVM, on one machine or split across peers.",
        subcommands = {GenerateCommand.class, ServeCommand.class, JoinCommand.class, ChatTemplateCommand.class,
            SynthCommand.class, BenchCommand.class, DevicesCommand.class, CommandLine.HelpCommand.class})
public final class ParallaxCli {

    static final String VERBOSE = "--verbose";

    @Option(names = {"-v", VERBOSE}, scope = ScopeType.INHERIT,
            description = "On errors, also print the full stack trace.")
    boolean verbose;

    public static void main(String[] args) {
        Charset console = System.out.charset();
        int exitCode = execute(args, new PrintWriter(System.out, true, console),
                new PrintWriter(System.err, true, System.err.charset()));
        System.exit(exitCode);
    }

    /** Runs the command line and returns its exit code; nothing here calls {@link System#exit}. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        return commandLine(out, err).execute(args);
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine commandLine = new CommandLine(new ParallaxCli());
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setParameterExceptionHandler(ParallaxCli::reportUsageError);
        commandLine.setExecutionExceptionHandler(ParallaxCli::reportFailure);
        return commandLine;
    }

    private static int reportUsageError(ParameterException e, String[] args) {
        CommandLine failed = e.getCommandLine();
        PrintWriter err = failed.getErr();
        err.println("error: " + e.getMessage() + " (see '" + failed.getCommandSpec().qualifiedName() + " --help')");
        err.flush();
        return failed.getCommandSpec().exitCodeOnInvalidInput();
    }

    private static int reportFailure(Exception e, CommandLine failed, ParseResult parseResult) {
        PrintWriter err = failed.getErr();
        boolean verbose = verboseRequested(parseResult);
        if (isUserFacing(e) || verbose) {
            err.println("error: " + describe(e));
        } else {
            err.println("error: " + describe(e) + " (run with --verbose for the stack trace)");
        }
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
        return failed.getCommandSpec().exitCodeOnExecutionException();
    }

    /**
     * Errors about the user's input (a bad model directory, a corrupt file, an unsupported architecture or
     * template) already say what is wrong; a stack trace would not help the user, so no hint to ask for one.
     */
    private static boolean isUserFacing(Exception e) {
        return e instanceof UserError
                || e instanceof ai.parallax.models.ModelException
                || e instanceof ai.parallax.tensors.safetensors.SafetensorsException
                || e instanceof ai.parallax.models.tokenizer.UnsupportedTokenizerException
                || e instanceof ai.parallax.models.chat.TemplateException;
    }

    /** -v is inherited by every subcommand, so it may have been given at any level of the command chain. */
    private static boolean verboseRequested(ParseResult parseResult) {
        for (ParseResult level = parseResult; level != null; level = level.subcommand()) {
            if (level.hasMatchedOption(VERBOSE)) {
                return true;
            }
        }
        return false;
    }

    /** The message a user can act on: unwraps I/O wrappers and names the JDK's bare-path exceptions. */
    static String describe(Throwable e) {
        if (e instanceof UncheckedIOException && e.getCause() != null) {
            return describe(e.getCause());
        }
        if (e instanceof NoSuchFileException missing) {
            return "no such file or directory: " + missing.getFile();
        }
        if (e instanceof AccessDeniedException denied) {
            return "permission denied: " + denied.getFile();
        }
        String message = e.getMessage();
        return message == null || message.isBlank() ? e.getClass().getName() : message;
    }

    /** {@code --version}: the Maven project version, written into version.properties at build time. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {
                "parallax " + projectVersion(),
                "java " + System.getProperty("java.version") + " (" + System.getProperty("java.vendor") + ", "
                        + System.getProperty("java.home") + ")"
            };
        }

        static String projectVersion() {
            try (InputStream in = ParallaxCli.class.getResourceAsStream("version.properties")) {
                if (in == null) {
                    throw new IllegalStateException("version.properties is missing from the class path");
                }
                Properties properties = new Properties();
                properties.load(in);
                return properties.getProperty("version");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}

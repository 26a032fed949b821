package ai.parallax.server.cli;

import ai.parallax.models.synthetic.ModelShape;
import ai.parallax.models.synthetic.SyntheticCheckpoint;
import ai.parallax.models.synthetic.SyntheticCheckpoint.WeightFormat;
import ai.parallax.server.UserError;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code parallax synth}: write a model of a published shape with random weights, for benchmarks. */
@Command(name = "synth",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Write a model directory in Hugging Face layout with a published model's dimensions and "
                + "seeded random weights, streamed to disk (memory stays small whatever the size).",
        footer = {"", "Example: parallax synth --shape llama-3.2-1b --dtype bf16 --out /tmp/llama-3.2-1b"})
public final class SynthCommand implements Callable<Integer> {

    /** Where the shared tokenizers live unless {@code -Dparallax.models} says otherwise. */
    static final String DEFAULT_MODELS = "../shared/models";

    @Spec
    CommandSpec spec;

    @Option(names = "--shape", required = true, paramLabel = "<name>",
            description = "Model shape: llama-3.2-1b, llama-3.1-8b, qwen3-0.6b, qwen3-1.7b, qwen3-8b, "
                    + "qwen3-30b-a3b, or tiny (for tests).")
    String shape;

    @Option(names = "--dtype", defaultValue = "bf16", paramLabel = "<type>",
            description = "Weight type: bf16, f16, f32 or fp8 (F8_E4M3 with 128x128 block scales) "
                    + "(default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--out", required = true, paramLabel = "<dir>", description = "Directory to write.")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "<dir>",
            description = "Directory holding tokenizer.json (and tokenizer_config.json) to copy. Default: the "
                    + "shape's tokenizer under ../shared/models (tokenizer-llama3_1 or tokenizer-qwen3).")
    Path tokenizer;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "<n>", description = "Random seed (default: 0).")
    long seed;

    @Override
    public Integer call() throws IOException {
        ModelShape modelShape = ModelShape.named(shape);
        WeightFormat format = WeightFormat.parse(dtype);
        Path tokenizerDir = tokenizer != null ? InputPaths.existingDirectory(tokenizer, "tokenizer directory")
                : defaultTokenizer(modelShape);
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new UserError("output is not a directory: " + out.toAbsolutePath());
        }
        PrintWriter err = spec.commandLine().getErr();
        long started = System.nanoTime();
        int[] lastPercent = {-1};
        SyntheticCheckpoint.Summary summary = new SyntheticCheckpoint(modelShape, format, seed)
                .write(out, tokenizerDir, SyntheticCheckpoint.DEFAULT_MAX_SHARD_BYTES, (done, total) -> {
                    int percent = (int) (100 * done / Math.max(1, total));
                    if (percent / 10 != lastPercent[0] / 10) {
                        lastPercent[0] = percent;
                        err.printf(Locale.ROOT, "synth: %d%% of %.2f GB%n", percent, total / 1e9);
                        err.flush();
                    }
                });
        spec.commandLine().getOut().printf(Locale.ROOT, "wrote %s: %s %s, %.3f B parameters, %.2f GB in %d shard(s), "
                        + "%.1f s%n", summary.directory(), modelShape.name(), format.name().toLowerCase(Locale.ROOT),
                summary.parameters() / 1e9, summary.tensorBytes() / 1e9, summary.shards().size(),
                (System.nanoTime() - started) * 1e-9);
        return 0;
    }

    private static Path defaultTokenizer(ModelShape shape) {
        Path models = Path.of(System.getProperty("parallax.models", DEFAULT_MODELS));
        Path dir = models.resolve(shape.tokenizerName());
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            throw new UserError("no tokenizer for shape " + shape.name() + " at " + dir.toAbsolutePath()
                    + ": give one with --tokenizer <dir>");
        }
        return dir;
    }
}

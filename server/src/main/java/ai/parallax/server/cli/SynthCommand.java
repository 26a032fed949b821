package ai.parallax.server.cli;

import ai.parallax.models.synthetic.FamilyShape;
import ai.parallax.models.synthetic.ModelShape;
import ai.parallax.models.synthetic.SyntheticCheckpoint;
import ai.parallax.models.synthetic.SyntheticCheckpoint.WeightFormat;
import ai.parallax.server.UserError;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
        footer = {"", "Example: parallax synth --shape llama-3.2-1b --dtype bf16 --out /tmp/llama-3.2-1b",
                "         parallax synth --shape deepseek-v3 --layers 4 --out /tmp/deepseek-v3-4"})
public final class SynthCommand implements Callable<Integer> {

    /** Where the shared tokenizers live unless {@code -Dparallax.models} says otherwise. */
    static final String DEFAULT_MODELS = "../shared/models";

    @Spec
    CommandSpec spec;

    @Option(names = "--shape", required = true, paramLabel = "<name>",
            description = "Model shape: llama-3.2-1b, llama-3.1-8b, qwen3-0.6b, qwen3-1.7b, qwen3-8b, "
                    + "qwen3-30b-a3b, gpt-oss-20b, gpt-oss-120b, deepseek-v3, kimi-k2, qwen3-next-80b-a3b, "
                    + "or tiny (for tests).")
    String shape;

    @Option(names = "--dtype", paramLabel = "<type>",
            description = "Weight type: bf16, f16, f32 or fp8 (F8_E4M3 with 128x128 block scales) "
                    + "(default: bf16). The gpt-oss, DeepSeek/Kimi and Qwen3-Next shapes are written in their "
                    + "official checkpoints' storage (MXFP4 experts, block FP8, BF16) and take no --dtype.")
    String dtype;

    @Option(names = "--layers", paramLabel = "<n>",
            description = "Write only the first <n> decoder layers (config.json says <n> layers): the slice one "
                    + "pipeline stage of a large model holds. Default: every layer.")
    Integer layers;

    @Option(names = "--out", required = true, paramLabel = "<dir>", description = "Directory to write.")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "<dir>",
            description = "Directory holding tokenizer.json (and tokenizer_config.json) to copy. Default: the "
                    + "shape's tokenizer under ../shared/models (tokenizer-llama3_1 or tokenizer-qwen3).")
    Path tokenizer;

    @Option(names = "--holes",
            description = "Leave every tensor's data as a hole that reads as zeros (sparse files): the full layout "
                    + "on almost no disk, for checking loading and memory estimates of models too large to write. "
                    + "Outputs of such a model mean nothing.")
    boolean holes;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "<n>", description = "Random seed (default: 0).")
    long seed;

    @Override
    public Integer call() throws IOException {
        FamilyShape family = FamilyShape.find(shape);
        SyntheticCheckpoint checkpoint;
        String shapeName;
        String tokenizerName;
        if (family != null) {
            if (dtype != null) {
                throw new UserError("shape " + shape + " is written in its official checkpoint's storage; drop "
                        + "--dtype " + dtype);
            }
            FamilyShape cut = layers == null ? family : family.withLayers(layers);
            checkpoint = new SyntheticCheckpoint(cut, seed);
            shapeName = cut.name() + (layers == null ? "" : " (" + layers + " of " + family.numLayers() + " layers)");
            tokenizerName = family.tokenizerName();
        } else {
            if (!ModelShape.names().contains(shape)) {
                List<String> known = new ArrayList<>(ModelShape.names());
                known.addAll(FamilyShape.names());
                throw new UserError("unknown model shape \"" + shape + "\" (known: " + String.join(", ", known) + ")");
            }
            ModelShape modelShape = ModelShape.named(shape);
            if (layers != null) {
                if (layers < 1 || layers > modelShape.numLayers()) {
                    throw new UserError("--layers " + layers + " is outside [1, " + modelShape.numLayers()
                            + "] for shape " + shape);
                }
                modelShape = modelShape.withLayers(layers);
            }
            checkpoint = new SyntheticCheckpoint(modelShape, WeightFormat.parse(dtype == null ? "bf16" : dtype), seed);
            shapeName = modelShape.name();
            tokenizerName = modelShape.tokenizerName();
        }
        Path tokenizerDir = tokenizer != null ? InputPaths.existingDirectory(tokenizer, "tokenizer directory")
                : defaultTokenizer(shape, tokenizerName);
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new UserError("output is not a directory: " + out.toAbsolutePath());
        }
        PrintWriter err = spec.commandLine().getErr();
        if (tokenizerDir == null) {
            err.println("synth: no tokenizer for " + shape + " among the shared models; the model has none "
                    + "(bench does not need one; give --tokenizer <dir> to copy one)");
        }
        long started = System.nanoTime();
        int[] lastPercent = {-1};
        SyntheticCheckpoint.Summary summary = checkpoint
                .write(out, tokenizerDir, SyntheticCheckpoint.DEFAULT_MAX_SHARD_BYTES, (done, total) -> {
                    int percent = (int) (100 * done / Math.max(1, total));
                    if (percent / 10 != lastPercent[0] / 10) {
                        lastPercent[0] = percent;
                        err.printf(Locale.ROOT, "synth: %d%% of %.2f GB%n", percent, total / 1e9);
                        err.flush();
                    }
                }, holes);
        spec.commandLine().getOut().printf(Locale.ROOT, "wrote %s: %s %s, %.3f B parameters, %.2f GB in %d shard(s), "
                        + "%.1f s%n", summary.directory(), shapeName, checkpoint.storage() + (holes ? " (holes)" : ""),
                summary.parameters() / 1e9, summary.tensorBytes() / 1e9, summary.shards().size(),
                (System.nanoTime() - started) * 1e-9);
        return 0;
    }

    /** The shared tokenizer the shape names, or null when it names none. */
    private static Path defaultTokenizer(String shape, String tokenizerName) {
        if (tokenizerName == null) {
            return null;
        }
        Path models = Path.of(System.getProperty("parallax.models", DEFAULT_MODELS));
        Path dir = models.resolve(tokenizerName);
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            throw new UserError("no tokenizer for shape " + shape + " at " + dir.toAbsolutePath()
                    + ": give one with --tokenizer <dir>");
        }
        return dir;
    }
}

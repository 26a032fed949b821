package ai.parallax.benchjlama;

import ai.parallax.kernels.simd.CpuTopology;
import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.CausalLanguageModel;
import ai.parallax.models.ModelLoader;
import ai.parallax.runtime.bench.ModelBenchmark;
import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.model.functions.Generator;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.prompt.PromptContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.UUID;

/**
 * Prefill and decode tokens/s of Jlama and of Parallax on one model directory, one after the other in one JVM, so
 * that both figures come from the same machine at nearly the same moment.
 *
 * <p>Run it (after {@code ./dev mvn -B -Pjlama -pl bench-jlama -am package -DskipTests}) as
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp bench-jlama/target/classes:$(cat bench-jlama/target/classpath.txt) \
 *     ai.parallax.benchjlama.JlamaSideBySide /tmp/synth/llama-3.2-1b 512 128
 * </pre>
 *
 * <p>Jlama runs greedy generation through its public {@code generate}; its response says how many prompt tokens it
 * read and how many it generated, and how long each phase took, and the rates come from those. The prompt is the
 * word " hello" repeated, about one token each. Generation may stop early at an end-of-sequence token; the rate is
 * still tokens over time. Parallax runs {@link ModelBenchmark} (warm-up, then prefill of the same length and
 * greedy decode) on {@code threads} threads; Jlama picks its own thread count (printed).
 */
public final class JlamaSideBySide {
    private JlamaSideBySide() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: JlamaSideBySide <model dir> [prompt tokens, default 512] "
                    + "[decode tokens, default 128] [Parallax threads, default physical cores]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            System.err.println("error: " + dir + " has no config.json: not a model directory in Hugging Face layout");
            System.exit(2);
        }
        int promptTokens = args.length > 1 ? Integer.parseInt(args[1]) : 512;
        int decodeTokens = args.length > 2 ? Integer.parseInt(args[2]) : 128;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : CpuTopology.physicalCores();

        double[] jlama = runJlama(dir, promptTokens, decodeTokens);
        double[] ours = runParallax(dir, promptTokens, decodeTokens, threads);
        System.out.printf(Locale.ROOT, "%-10s %18s %18s%n", "engine", "prefill tok/s", "decode tok/s");
        System.out.printf(Locale.ROOT, "%-10s %18.2f %18.2f%n", "Jlama", jlama[0], jlama[1]);
        System.out.printf(Locale.ROOT, "%-10s %18.2f %18.2f%n", "Parallax", ours[0], ours[1]);
    }

    /** Prefill and decode tokens/s of Jlama, after one short warm-up generation. */
    private static double[] runJlama(Path dir, int promptTokens, int decodeTokens) {
        System.err.println("Jlama: loading " + dir + " ...");
        AbstractModel model = ModelSupport.loadModel(dir.toFile(), DType.F32, DType.I8);
        try {
            String prompt = " hello".repeat(promptTokens);
            model.generate(UUID.randomUUID(), PromptContext.of(" hello".repeat(16)), 0.0f, 32, (text, time) -> { });
            Generator.Response r = model.generate(UUID.randomUUID(), PromptContext.of(prompt), 0.0f,
                    promptTokens + decodeTokens, (text, time) -> { });
            System.err.printf(Locale.ROOT, "Jlama: %d prompt tokens in %d ms, %d generated in %d ms (%s)%n",
                    r.promptTokens, r.promptTimeMs, r.generatedTokens, r.generateTimeMs, r.finishReason);
            return new double[] {r.promptTokens * 1000.0 / r.promptTimeMs,
                r.generatedTokens * 1000.0 / r.generateTimeMs};
        } finally {
            model.close();
        }
    }

    /** Prefill and decode tokens/s of Parallax through the same benchmark as {@code parallax bench}. */
    private static double[] runParallax(Path dir, int promptTokens, int decodeTokens, int threads) {
        System.err.println("Parallax: loading " + dir + " on " + threads + " threads ...");
        ModelBenchmark.Settings settings = new ModelBenchmark.Settings(promptTokens, decodeTokens, List.of(), 1, 0);
        try (SimdOps ops = new SimdOps(threads);
             CausalLanguageModel model = ModelLoader.load(dir, ops, settings.positionsNeeded())) {
            ModelBenchmark.Measurements m = new ModelBenchmark(model, ops, 0).run(settings);
            return new double[] {m.prefill().tokensPerSecond(), m.decode().tokensPerSecond()};
        }
    }
}

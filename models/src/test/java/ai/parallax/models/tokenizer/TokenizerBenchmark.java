package ai.parallax.models.tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Load time and encode throughput on a few hundred KB of generated mixed text (not a unit test; run by hand):
 * {@code java -cp <test classpath> ai.parallax.models.tokenizer.TokenizerBenchmark /work/shared/models}.
 */
public final class TokenizerBenchmark {
    private TokenizerBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "../shared/models");
        StringBuilder sb = new StringBuilder();
        RandomText random = new RandomText(1);
        while (sb.length() < 400_000) {
            sb.append(random.next());
        }
        String text = sb.toString();
        double megabytes = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
        for (String model : new String[] {"tokenizer-llama3_1", "tokenizer-qwen3", "stories260K"}) {
            long t0 = System.nanoTime();
            Tokenizer tokenizer = Tokenizer.load(root.resolve(model));
            double loadSeconds = (System.nanoTime() - t0) / 1e9;
            int tokens = 0;
            double best = Double.MAX_VALUE;
            double cold = 0;
            for (int run = 0; run < 8; run++) {
                // A fresh tokenizer's first run shows the cost without a warm word cache.
                long s = System.nanoTime();
                tokens = tokenizer.encode(text, false).length;
                double seconds = (System.nanoTime() - s) / 1e9;
                if (run == 0) {
                    cold = seconds;
                }
                best = Math.min(best, seconds);
            }
            System.out.printf("%-20s load %.3f s | %.2f MB -> %d tokens | encode first run %.1f MB/s, best of 8 %.1f MB/s%n",
                    model, loadSeconds, megabytes, tokens, megabytes / cold, megabytes / best);
            // The Rust library on the same text and thread count, for scale.
            try (ai.djl.huggingface.tokenizers.HuggingFaceTokenizer reference =
                    ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(
                            root.resolve(model).resolve("tokenizer.json"), java.util.Map.of())) {
                double referenceBest = Double.MAX_VALUE;
                for (int run = 0; run < 8; run++) {
                    long s = System.nanoTime();
                    reference.encode(text, false, false);
                    referenceBest = Math.min(referenceBest, (System.nanoTime() - s) / 1e9);
                }
                System.out.printf("%-20s Hugging Face tokenizers (Rust, via DJL) best of 8 %.1f MB/s%n", model,
                        megabytes / referenceBest);
            }
        }
    }
}

package ai.parallax.kernels.vulkan;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Decode and prefill throughput of the Vulkan backend on a synthetic Llama-family model with random BF16 weights,
 * running the same op sequence as {@code LlamaModel} (norm, q/k/v, q/k norm, rope, KV write, attention, o,
 * residual, MLP, final norm, lm_head, device argmax). Decode at batch 1 streams every weight once per token, so
 * weight bytes / seconds per token is the memory bandwidth the kernels reach; the report sets it against the
 * GPU's bandwidth ceiling.
 *
 * <p>Skipped unless {@code -Dparallax.bench.model} is set; {@code kernels-vulkan/gpu-bench.sh} runs it:
 * {@code -Dparallax.bench.model=llama-3.2-1b|qwen3-8b|tiny -Dparallax.bench.tokens=64
 * -Dparallax.bench.prefill=256 -Dparallax.bench.peakGBs=3350}.
 */
class DecodeBenchmark {

    /** The shapes of a model; weights are random. */
    record Shape(String name, int hidden, int layers, int heads, int kvHeads, int headDim, int intermediate,
                 int vocab, boolean tied, boolean qkNorm) {
        static Shape named(String name) {
            return switch (name) {
                case "llama-3.2-1b" -> new Shape(name, 2048, 16, 32, 8, 64, 8192, 128256, true, false);
                case "qwen3-8b" -> new Shape(name, 4096, 36, 32, 8, 128, 12288, 151936, false, true);
                case "tiny" -> new Shape(name, 256, 4, 8, 2, 32, 768, 4096, false, true);
                default -> throw new IllegalArgumentException("unknown benchmark model " + name
                        + " (llama-3.2-1b, qwen3-8b, tiny)");
            };
        }
    }

    /**
     * Runs without JUnit or Maven, for a GPU machine with only a JDK:
     * {@code java -cp … ai.parallax.kernels.vulkan.DecodeBenchmark model decodeTokens prefillTokens peakGBs}, or
     * {@code … DecodeBenchmark matmul n k}.
     */
    public static void main(String[] args) {
        if (args.length == 3 && args[0].equals("matmul")) {
            matmul(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
        } else {
            model(Shape.named(args[0]), Integer.parseInt(args[1]), Integer.parseInt(args[2]),
                    Double.parseDouble(args[3]));
        }
    }

    @Test
    void decodeAndPrefillThroughput() {
        String model = System.getProperty("parallax.bench.model");
        assumeTrue(model != null, "set -Dparallax.bench.model to run the benchmark");
        model(Shape.named(model), Integer.getInteger("parallax.bench.tokens", 64),
                Integer.getInteger("parallax.bench.prefill", 256),
                Double.parseDouble(System.getProperty("parallax.bench.peakGBs", "0")));
    }

    static void model(Shape shape, int decodeTokens, int prefill, double peakGBs) {
        try (Arena arena = Arena.ofShared(); VulkanOps ops = VulkanOps.open()) {
            System.out.println("device: " + ops.device().describe());
            long t0 = System.nanoTime();
            SyntheticModel m = new SyntheticModel(shape, ops, arena, prefill + decodeTokens + 8);
            long weightBytes = m.weightBytes();
            System.out.printf(Locale.ROOT, "model %s: %.2f GB of BF16 weights built in %.1f s%n", shape.name(),
                    weightBytes / 1e9, (System.nanoTime() - t0) / 1e9);
            t0 = System.nanoTime();
            ops.upload(m.weights, (done, total) -> { });
            double uploadSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "upload: %.1f s, %.2f GB/s%n", uploadSeconds,
                    weightBytes / 1e9 / uploadSeconds);

            // Prefill: one step of `prefill` tokens.
            int[] prompt = new int[prefill];
            for (int i = 0; i < prefill; i++) {
                prompt[i] = (i * 7919) % shape.vocab();
            }
            m.step(prompt, 0); // warm-up: compiles pipelines, grows scratch
            ops.flush();
            t0 = System.nanoTime();
            int next = m.step(prompt, 0);
            double prefillSeconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "prefill: %d tokens in %.3f s = %.1f tokens/s%n", prefill,
                    prefillSeconds, prefill / prefillSeconds);

            // Decode: batch 1, one submission per token.
            int[] token = {next};
            for (int i = 0; i < 3; i++) {
                token[0] = m.step(token, prefill + i);
            }
            long submissions = ops.submissions();
            t0 = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) {
                token[0] = m.step(token, prefill + 3 + i);
            }
            double decodeSeconds = (System.nanoTime() - t0) / 1e9;
            double perToken = decodeSeconds / decodeTokens;
            double achievedGBs = m.bytesPerDecodeToken() / perToken / 1e9;
            System.out.printf(Locale.ROOT, "decode: %d tokens in %.3f s = %.2f tokens/s, %.1f ms/token, "
                            + "%d submissions, %.1f GB/s of weights streamed%n", decodeTokens, decodeSeconds,
                    1 / perToken, perToken * 1e3, ops.submissions() - submissions, achievedGBs);
            if (peakGBs > 0) {
                System.out.printf(Locale.ROOT, "bandwidth ceiling %.0f GB/s -> %.1f tokens/s; achieved %.1f%% of it%n",
                        peakGBs, peakGBs * 1e9 / m.bytesPerDecodeToken(), 100 * achievedGBs / peakGBs);
            }
        }
    }

    /**
     * Matrix x vector throughput of one [n, k] BF16 weight at batch 1 and 16: {@code -Dparallax.bench.matmul=n,k}.
     */
    @Test
    void matmulThroughput() {
        String size = System.getProperty("parallax.bench.matmul");
        assumeTrue(size != null, "set -Dparallax.bench.matmul=n,k to run the matmul benchmark");
        matmul(Integer.parseInt(size.split(",")[0]), Integer.parseInt(size.split(",")[1]));
    }

    static void matmul(int n, int k) {
        try (Arena arena = Arena.ofShared(); VulkanOps ops = VulkanOps.open()) {
            MemorySegment m = arena.allocate(2L * n * k, 64);
            Random random = new Random(3);
            for (long i = 0; i < (long) n * k; i++) {
                m.set(ValueLayout.JAVA_SHORT, 2 * i, (short) (Float.floatToRawIntBits(random.nextFloat() - 0.5f) >>> 16));
            }
            Tensor w = new Tensor("w", DType.BF16, new long[] {n, k}, m);
            for (int tokens : new int[] {1, 16}) {
                Tensor x = ops.allocate("x", tokens, k);
                Tensor out = ops.allocate("out", tokens, n);
                ops.matmul(x, w, null, out);
                ops.flush();
                int reps = 20;
                long t0 = System.nanoTime();
                for (int r = 0; r < reps; r++) {
                    ops.matmul(x, w, null, out);
                    ops.flush();
                }
                double seconds = (System.nanoTime() - t0) / 1e9 / reps;
                System.out.printf(Locale.ROOT, "matmul BF16 [%d x %d] T=%d: %.2f ms, %.2f GFLOP/s, %.2f GB/s of weights%n",
                        n, k, tokens, seconds * 1e3, 2.0 * n * k * tokens / seconds / 1e9, 2.0 * n * k / seconds / 1e9);
            }
        }
    }

    /** Weights and buffers of a Llama-shaped model, and its forward step written in {@link Ops} calls. */
    static final class SyntheticModel {
        final List<Tensor> weights = new ArrayList<>();
        private final Shape s;
        private final Ops ops;
        private final Tensor embedding;
        private final Tensor lmHead;
        private final Tensor finalNorm;
        private final Tensor[][] layer;
        private final Tensor[] keys;
        private final Tensor[] values;
        private final Tensor cos;
        private final Tensor sin;
        private final int capacity;
        private final MemorySegment pattern;
        private final java.util.Map<Integer, Tensor[]> buffers = new java.util.HashMap<>();
        private final float eps = 1e-6f;

        SyntheticModel(Shape s, Ops ops, Arena arena, int capacity) {
            this.s = s;
            this.ops = ops;
            this.capacity = capacity;
            // One random 16 MiB block, repeated: filling gigabytes with fresh random numbers would take minutes.
            pattern = arena.allocate(16 << 20, 64);
            Random random = new Random(1);
            for (long i = 0; i < pattern.byteSize() / 2; i++) {
                float v = (random.nextFloat() * 2 - 1) * 0.02f;
                pattern.set(ValueLayout.JAVA_SHORT, 2 * i, (short) (Float.floatToRawIntBits(v) >>> 16));
            }
            long qWidth = (long) s.heads() * s.headDim();
            long kvWidth = (long) s.kvHeads() * s.headDim();
            embedding = weight(arena, "embed", s.vocab(), s.hidden());
            layer = new Tensor[s.layers()][];
            for (int l = 0; l < s.layers(); l++) {
                layer[l] = new Tensor[] {
                        norm(arena, "input_norm", s.hidden()),
                        weight(arena, "q", qWidth, s.hidden()),
                        weight(arena, "k", kvWidth, s.hidden()),
                        weight(arena, "v", kvWidth, s.hidden()),
                        norm(arena, "q_norm", s.headDim()),
                        norm(arena, "k_norm", s.headDim()),
                        weight(arena, "o", s.hidden(), qWidth),
                        norm(arena, "post_norm", s.hidden()),
                        weight(arena, "gate", s.intermediate(), s.hidden()),
                        weight(arena, "up", s.intermediate(), s.hidden()),
                        weight(arena, "down", s.hidden(), s.intermediate())};
            }
            finalNorm = norm(arena, "final_norm", s.hidden());
            lmHead = s.tied() ? embedding : weight(arena, "lm_head", s.vocab(), s.hidden());
            keys = new Tensor[s.layers()];
            values = new Tensor[s.layers()];
            for (int l = 0; l < s.layers(); l++) {
                keys[l] = ops.allocate("keys", capacity, kvWidth);
                values[l] = ops.allocate("values", capacity, kvWidth);
            }
            int half = s.headDim() / 2;
            cos = ops.allocate("cos", capacity, half);
            sin = ops.allocate("sin", capacity, half);
            float[] c = new float[capacity * half];
            float[] sn = new float[capacity * half];
            for (int p = 0; p < capacity; p++) {
                for (int i = 0; i < half; i++) {
                    double angle = p / Math.pow(500000, 2.0 * i / s.headDim());
                    c[p * half + i] = (float) Math.cos(angle);
                    sn[p * half + i] = (float) Math.sin(angle);
                }
            }
            ops.copyFromHost(c, 0, cos);
            ops.copyFromHost(sn, 0, sin);
        }

        private Tensor weight(Arena arena, String name, long rows, long cols) {
            long bytes = rows * cols * 2;
            MemorySegment m = arena.allocate(bytes, 64);
            for (long at = 0; at < bytes; at += pattern.byteSize()) {
                MemorySegment.copy(pattern, 0, m, at, Math.min(pattern.byteSize(), bytes - at));
            }
            Tensor t = new Tensor(name, DType.BF16, new long[] {rows, cols}, m);
            weights.add(t);
            return t;
        }

        private Tensor norm(Arena arena, String name, long width) {
            MemorySegment m = arena.allocate(width * 4, 64);
            for (long i = 0; i < width; i++) {
                m.set(ValueLayout.JAVA_FLOAT, 4 * i, 1f);
            }
            Tensor t = new Tensor(name, DType.F32, new long[] {width}, m);
            weights.add(t);
            return t;
        }

        long weightBytes() {
            long total = 0;
            for (Tensor t : weights) {
                total += t.byteSize();
            }
            return total;
        }

        /** Weight bytes one decode token reads: every matrix once (the embedding only one row, unless tied). */
        long bytesPerDecodeToken() {
            long total = 0;
            for (Tensor[] l : layer) {
                for (Tensor t : l) {
                    total += t.byteSize();
                }
            }
            return total + lmHead.byteSize() + finalNorm.byteSize();
        }

        private Tensor[] buffers(int count) {
            return buffers.computeIfAbsent(count, n -> new Tensor[] {
                    ops.allocate("hidden", n, s.hidden()), ops.allocate("normed", n, s.hidden()),
                    ops.allocate("q", n, (long) s.heads() * s.headDim()),
                    ops.allocate("k", n, (long) s.kvHeads() * s.headDim()),
                    ops.allocate("v", n, (long) s.kvHeads() * s.headDim()),
                    ops.allocate("attn", n, (long) s.heads() * s.headDim()),
                    ops.allocate("gate", n, s.intermediate()), ops.allocate("up", n, s.intermediate()),
                    ops.allocate("logits", 1, s.vocab())});
        }

        /** One forward step over {@code tokens} at positions from {@code start}; returns the greedy next token. */
        int step(int[] tokens, int start) {
            int n = tokens.length;
            Tensor[] b = buffers(n);
            Tensor hidden = b[0];
            Tensor normed = b[1];
            Tensor q = b[2];
            Tensor k = b[3];
            Tensor v = b[4];
            Tensor attn = b[5];
            Tensor gate = b[6];
            Tensor up = b[7];
            int[] positions = new int[n];
            for (int i = 0; i < n; i++) {
                positions[i] = start + i;
            }
            float scale = (float) (1 / Math.sqrt(s.headDim()));
            ops.embedding(embedding, tokens, hidden);
            for (int l = 0; l < s.layers(); l++) {
                Tensor[] w = layer[l];
                ops.rmsNorm(hidden, w[0], eps, normed);
                ops.matmul(normed, w[1], null, q);
                ops.matmul(normed, w[2], null, k);
                ops.matmul(normed, w[3], null, v);
                if (s.qkNorm()) {
                    ops.rmsNorm(q, w[4], eps, q);
                    ops.rmsNorm(k, w[5], eps, k);
                }
                ops.rope(q, s.heads(), s.headDim(), positions, cos, sin);
                ops.rope(k, s.kvHeads(), s.headDim(), positions, cos, sin);
                ops.copyRows(k, keys[l], start);
                ops.copyRows(v, values[l], start);
                ops.attention(q, keys[l], values[l], start, s.heads(), s.kvHeads(), s.headDim(), scale, attn);
                ops.matmul(attn, w[6], null, normed);
                ops.add(hidden, normed);
                ops.rmsNorm(hidden, w[7], eps, normed);
                ops.matmul(normed, w[8], null, gate);
                ops.matmul(normed, w[9], null, up);
                ops.siluMul(gate, up, gate);
                ops.matmul(gate, w[10], null, normed);
                ops.add(hidden, normed);
            }
            Tensor last = hidden.rows(n - 1, 1);
            Tensor lastNormed = normed.rows(n - 1, 1);
            ops.rmsNorm(last, finalNorm, eps, lastNormed);
            ops.matmul(lastNormed, lmHead, null, b[8]);
            return ops.argmax(b[8], 0);
        }
    }
}

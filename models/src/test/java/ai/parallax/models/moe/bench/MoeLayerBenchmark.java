package ai.parallax.models.moe.bench;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.models.ScratchBuffers;
import ai.parallax.models.moe.MixtureOfExperts;
import ai.parallax.models.moe.MoeConfig;
import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.Ops;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One mixture-of-experts layer sized like Qwen3-30B-A3B's (128 experts, top 8, hidden 2048, moe_intermediate
 * 768) on synthetic weights, BF16 or block-scaled FP8 E4M3 ([128, 128] blocks, F32 scales), at batch 1 (decode)
 * and batch 16. Reported per second: {@code expertBytes} (expert weight bytes streamed: each routed expert once per
 * step) and {@code tokens}; their ratio is the expert bytes touched per token. {@code streamRead} reads 1 GiB with
 * vector loads on every thread: the machine's practical read bandwidth, to set the GB/s against.
 *
 * <p>Run (from the repository root):
 * <pre>
 * ./dev mvn -q -B -pl models -am test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * "$(./dev java-home)/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp models/target/test-classes:models/target/classes:$(cat /tmp/cp.txt) \
 *     org.openjdk.jmh.Main MoeLayerBenchmark
 * </pre>
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Xmx2g"})
public class MoeLayerBenchmark {
    static final int EXPERTS = 128;
    static final int TOP_K = 8;
    static final int HIDDEN = 2048;
    static final int INTERMEDIATE = 768;

    @State(Scope.Benchmark)
    public static class Layer {
        @Param({"BF16", "F8_E4M3"})
        public String dtype;

        @Param({"1", "16"})
        public int tokens;

        Arena arena;
        Ops ops;
        ScratchBuffers scratch;
        MixtureOfExperts moe;
        Tensor x;
        Tensor residual;

        @Setup(Level.Trial)
        public void build() {
            arena = Arena.ofShared();
            ops = new SimdOps();
            scratch = new ScratchBuffers(ops);
            SplittableRandom random = new SplittableRandom(1);
            DType type = DType.valueOf(dtype);
            Tensor[] gates = new Tensor[EXPERTS];
            Tensor[] ups = new Tensor[EXPERTS];
            Tensor[] downs = new Tensor[EXPERTS];
            for (int e = 0; e < EXPERTS; e++) {
                gates[e] = weight("gate" + e, type, INTERMEDIATE, HIDDEN, random);
                ups[e] = weight("up" + e, type, INTERMEDIATE, HIDDEN, random);
                downs[e] = weight("down" + e, type, HIDDEN, INTERMEDIATE, random);
            }
            Tensor router = weight("router", DType.BF16, EXPERTS, HIDDEN, random);
            MoeConfig config = new MoeConfig(EXPERTS, TOP_K, INTERMEDIATE, true, 1, Set.of(), 0);
            moe = MixtureOfExperts.of(ops, scratch, config, router, gates, ups, downs, null, null);
            x = ops.allocate("x", tokens, HIDDEN);
            residual = ops.allocate("residual", tokens, HIDDEN);
            float[] host = new float[tokens * HIDDEN];
            Random r = new Random(2);
            for (int i = 0; i < host.length; i++) {
                host[i] = (float) r.nextGaussian();
            }
            ops.copyFromHost(host, 0, x);
        }

        /** Random weights around 1/sqrt(cols) in magnitude; FP8 codes never NaN, scales as checkpoints have. */
        private Tensor weight(String name, DType type, long rows, long cols, SplittableRandom random) {
            MemorySegment m = arena.allocate(rows * cols * type.byteSize(), 64);
            if (type == DType.BF16) {
                float scale = (float) (1 / Math.sqrt(cols));
                for (long i = 0; i < rows * cols; i++) {
                    float v = (float) (random.nextDouble() * 2 - 1) * scale;
                    m.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2 * i,
                            FloatFormats.floatToBf16(v));
                }
                return new Tensor(name, type, new long[] {rows, cols}, m);
            }
            for (long i = 0; i < rows * cols; i++) {
                m.set(ValueLayout.JAVA_BYTE, i, (byte) (random.nextInt(256) & 0xBF)); // exponent ≤ 7: finite
            }
            long[] scaleShape = BlockScales.expectedShape(rows, cols, 128, 128);
            Tensor scales = ops.allocate(name + "_scale_inv", scaleShape);
            float[] s = new float[(int) (scaleShape[0] * scaleShape[1])];
            java.util.Arrays.fill(s, (float) (1 / Math.sqrt(cols)));
            ops.copyFromHost(s, 0, scales);
            return new Tensor(name, type, new long[] {rows, cols}, m)
                    .withBlockScales(new BlockScales(scales, 128, 128));
        }

        @TearDown(Level.Trial)
        public void close() {
            ops.close();
            arena.close();
        }
    }

    /** Expert weight bytes streamed and tokens processed, reported by JMH as rates. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Traffic {
        public long expertBytes;
        public long tokens;
    }

    @Benchmark
    public void moeLayer(Layer layer, Traffic traffic) {
        long before = layer.moe.expertBytesRead();
        layer.moe.addTo(layer.x, layer.residual);
        traffic.expertBytes += layer.moe.expertBytesRead() - before;
        traffic.tokens += layer.tokens;
    }

    @State(Scope.Benchmark)
    public static class Stream {
        static final VectorSpecies<Long> SPECIES = LongVector.SPECIES_PREFERRED;
        static final long BYTES = 1L << 30;
        Arena arena;
        MemorySegment data;
        int threads = Runtime.getRuntime().availableProcessors();

        @Setup(Level.Trial)
        public void build() {
            arena = Arena.ofShared();
            data = arena.allocate(BYTES, 64);
            data.fill((byte) 1);
        }

        @TearDown(Level.Trial)
        public void close() {
            arena.close();
        }

        long sum(long from, long to) {
            LongVector acc = LongVector.zero(SPECIES);
            long step = SPECIES.vectorByteSize();
            for (long i = from; i < to; i += step) {
                acc = acc.add(LongVector.fromMemorySegment(SPECIES, data, i, ByteOrder.LITTLE_ENDIAN));
            }
            return acc.reduceLanes(VectorOperators.ADD);
        }
    }

    /** Reads 1 GiB split over all processors; its {@code bytes} rate is the practical read bandwidth. */
    @Benchmark
    @Measurement(iterations = 3, time = 3)
    public long streamRead(Stream stream, Traffic traffic) throws InterruptedException {
        int n = stream.threads;
        long part = Stream.BYTES / n;
        long[] sums = new long[n];
        Thread[] workers = new Thread[n - 1];
        for (int t = 1; t < n; t++) {
            int id = t;
            workers[t - 1] = Thread.ofPlatform().start(() -> sums[id] = stream.sum(id * part, (id + 1) * part));
        }
        sums[0] = stream.sum(0, part);
        for (Thread w : workers) {
            w.join();
        }
        traffic.expertBytes += Stream.BYTES;
        long total = 0;
        for (long s : sums) {
            total += s;
        }
        return total;
    }
}

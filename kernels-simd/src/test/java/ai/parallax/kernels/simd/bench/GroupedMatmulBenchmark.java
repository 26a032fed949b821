package ai.parallax.kernels.simd.bench;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.tensors.Tensor;
import java.util.Random;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * The per-head products of DeepSeek-V3's absorbed latent attention at decode, for one layer: 128 heads, each
 * {@code [1, 192] · [576, 192]ᵀ} (W_UK absorbed into the query) and {@code [1, 576] · [128, 576]ᵀ} (W_UV), F32
 * weights (94 MB per layer; the model keeps DeepSeek-V3's as FP8, a quarter of that). One {@link SimdOps#matmuls}
 * call against 256 {@link SimdOps#matmul} calls: the difference is the cost of a call.
 *
 * <p>Run: {@code java ... -cp <test classpath> ai.parallax.kernels.simd.bench.GroupedMatmulBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GroupedMatmulBenchmark {
    @Param({"128"})
    public int heads;
    @Param({"2"})
    public int threads;

    private SimdOps ops;
    private Tensor[] queryWeights;
    private Tensor[] valueWeights;
    private Tensor[] queries;
    private Tensor[] latents;
    private Tensor[] values;

    @Setup(Level.Trial)
    public void setUp() {
        ops = new SimdOps(threads);
        Random random = new Random(5);
        queryWeights = new Tensor[heads];
        valueWeights = new Tensor[heads];
        queries = new Tensor[heads];
        latents = new Tensor[heads];
        values = new Tensor[heads];
        Tensor q = ops.allocate("q", heads, 192);
        Tensor l = ops.allocate("latent", heads, 576);
        Tensor v = ops.allocate("v", heads, 128);
        for (int h = 0; h < heads; h++) {
            queryWeights[h] = filled(random, "wq" + h, 576, 192);
            valueWeights[h] = filled(random, "wv" + h, 128, 576);
            queries[h] = q.rows(h, 1);
            latents[h] = l.rows(h, 1);
            values[h] = v.rows(h, 1);
        }
        ops.copyFromHost(randoms(random, heads * 192), 0, q);
    }

    private Tensor filled(Random random, String name, int n, int k) {
        Tensor t = ops.allocate(name, n, k);
        ops.copyFromHost(randoms(random, n * k), 0, t);
        return t;
    }

    private static float[] randoms(Random random, int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = random.nextFloat() - 0.5f;
        }
        return values;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ops.close();
    }

    @Benchmark
    public Tensor[] onePerHead() {
        for (int h = 0; h < heads; h++) {
            ops.matmul(queries[h], queryWeights[h], null, latents[h]);
        }
        for (int h = 0; h < heads; h++) {
            ops.matmul(latents[h], valueWeights[h], null, values[h]);
        }
        return values;
    }

    @Benchmark
    public Tensor[] grouped() {
        ops.matmuls(queries, queryWeights, latents);
        ops.matmuls(latents, valueWeights, values);
        return values;
    }

    public static void main(String[] args) throws RunnerException {
        new Runner(new OptionsBuilder().include(GroupedMatmulBenchmark.class.getName() + ".*").build()).run();
    }
}

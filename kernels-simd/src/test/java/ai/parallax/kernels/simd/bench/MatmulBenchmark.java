package ai.parallax.kernels.simd.bench;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * {@code out = x · Wᵀ} through {@link SimdOps#matmul} on {@code threads} threads. The weight is replicated until
 * the copies exceed the last-level cache several times over, and each call uses the next copy, so every call streams
 * its weights from DRAM as a real forward pass does.
 */
@State(Scope.Benchmark)
public class MatmulBenchmark {
    /** Copies of the weight together span at least this much memory. */
    private static final long STREAMED_BYTES = 512L << 20;

    @Param({"BF16"})
    public String dtype;
    /** Rows x columns of the weight: [outFeatures, inFeatures]. */
    @Param({"2048x8192"})
    public String shape;
    @Param({"1"})
    public int tokens;
    @Param({"2"})
    public int threads;

    private SimdOps ops;
    private Arena arena;
    private Tensor[] weights;
    private Tensor x;
    private Tensor out;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        String[] nk = shape.split("x");
        long n = Long.parseLong(nk[0]);
        long k = Long.parseLong(nk[1]);
        DType type = DType.valueOf(dtype);
        ops = new SimdOps(threads);
        arena = Arena.ofShared();
        long weightBytes = n * k * type.byteSize();
        int copies = (int) Math.max(2, (STREAMED_BYTES + weightBytes - 1) / weightBytes);
        weights = new Tensor[copies];
        Random random = new Random(7);
        MemorySegment first = arena.allocate(weightBytes, 64);
        for (long i = 0; i < n * k; i++) {
            float v = random.nextFloat() - 0.5f;
            switch (type) {
                case F32 -> first.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                case BF16 -> first.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (Float.floatToRawIntBits(v) >>> 16));
                case F16 -> first.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(v));
                default -> throw new IllegalArgumentException("weight dtype " + type);
            }
        }
        for (int c = 0; c < copies; c++) {
            MemorySegment m = c == 0 ? first : arena.allocate(weightBytes, 64).copyFrom(first);
            weights[c] = new Tensor("w" + c, type, new long[] {n, k}, m);
        }
        x = ops.allocate("x", tokens, k);
        float[] xs = new float[(int) (tokens * k)];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = random.nextFloat() - 0.5f;
        }
        ops.copyFromHost(xs, 0, x);
        out = ops.allocate("out", tokens, n);
    }

    @Benchmark
    public Tensor matmul() {
        Tensor w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        ops.matmul(x, w, null, out);
        return out;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ops.close();
        arena.close();
    }
}

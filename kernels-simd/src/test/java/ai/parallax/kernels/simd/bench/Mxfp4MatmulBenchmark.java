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
 * {@code out = x · Wᵀ} for an MXFP4 weight through {@link SimdOps#matmulMxfp4}, streamed from DRAM as in
 * {@link MatmulBenchmark}: the packed codes and scales are replicated past the last-level cache and each call uses the
 * next copy. The default shape is one gpt-oss-20b expert's gate_up projection (2·2880 × 2880). Bytes per call:
 * {@code n·k/2 + n·k/32}.
 *
 * <p>Run: {@code java ... org.openjdk.jmh.Main Mxfp4MatmulBenchmark -f 1 -wi 3 -i 5 -p tokens=1,4}.
 */
@State(Scope.Benchmark)
public class Mxfp4MatmulBenchmark {
    private static final long STREAMED_BYTES = 512L << 20;

    @Param({"5760x2880"})
    public String shape;
    @Param({"1"})
    public int tokens;
    @Param({"2"})
    public int threads;

    private SimdOps ops;
    private Arena arena;
    private Tensor[] blocks;
    private Tensor[] scales;
    private Tensor x;
    private Tensor out;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        String[] nk = shape.split("x");
        long n = Long.parseLong(nk[0]);
        long k = Long.parseLong(nk[1]);
        ops = new SimdOps(threads);
        arena = Arena.ofShared();
        long bytes = n * k / 2 + n * k / 32;
        int copies = (int) Math.max(2, (STREAMED_BYTES + bytes - 1) / bytes);
        blocks = new Tensor[copies];
        scales = new Tensor[copies];
        Random random = new Random(7);
        MemorySegment codes = arena.allocate(n * k / 2, 64);
        MemorySegment scaleBytes = arena.allocate(n * k / 32, 64);
        for (long i = 0; i < codes.byteSize(); i++) {
            codes.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
        }
        for (long i = 0; i < scaleBytes.byteSize(); i++) {
            scaleBytes.set(ValueLayout.JAVA_BYTE, i, (byte) (120 + random.nextInt(8)));
        }
        for (int c = 0; c < copies; c++) {
            MemorySegment b = c == 0 ? codes : arena.allocate(codes.byteSize(), 64).copyFrom(codes);
            MemorySegment s = c == 0 ? scaleBytes : arena.allocate(scaleBytes.byteSize(), 64).copyFrom(scaleBytes);
            blocks[c] = new Tensor("blocks" + c, DType.U8, new long[] {n, k / 2}, b);
            scales[c] = new Tensor("scales" + c, DType.U8, new long[] {n, k / 32}, s);
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
    public Tensor matmulMxfp4() {
        int c = next;
        next = next + 1 == blocks.length ? 0 : next + 1;
        ops.matmulMxfp4(x, blocks[c], scales[c], null, out);
        return out;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ops.close();
        arena.close();
    }
}

package ai.parallax.kernels.simd.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;

/**
 * The machine's ceilings: streaming read bandwidth (a vector sum over a 1 GiB off-heap buffer, split between the
 * benchmark threads) and peak FMA rate (independent FMA chains on registers only, no memory traffic).
 */
public class MemoryBenchmark {
    static final long BUFFER_BYTES = 1L << 30;
    /** FMAs per chain per call of the FMA benchmarks. */
    static final int FMA_ITERATIONS = 1 << 20;
    /** Independent accumulators: enough to cover FMA latency times the number of FMA ports. */
    static final int FMA_CHAINS = 12;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    @State(Scope.Benchmark)
    public static class Buffer {
        MemorySegment data;
        private Arena arena;
        final AtomicInteger threads = new AtomicInteger();

        @Setup(Level.Trial)
        public void setUp() {
            arena = Arena.ofShared();
            data = arena.allocate(BUFFER_BYTES, 64);
            data.fill((byte) 1); // touch every page so the benchmark does not measure page faults
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }
    }

    /** Which slice of the buffer this benchmark thread reads. */
    @State(Scope.Thread)
    public static class Slice {
        int index;

        @Setup(Level.Trial)
        public void setUp(Buffer buffer) {
            index = buffer.threads.getAndIncrement();
        }
    }

    @Benchmark
    @Threads(1)
    public float streamRead1Thread(Buffer buffer) {
        return sum(buffer.data, 0, BUFFER_BYTES);
    }

    @Benchmark
    @Threads(2)
    public float streamRead2Threads(Buffer buffer, Slice slice) {
        long half = BUFFER_BYTES / 2;
        return sum(buffer.data, (slice.index % 2) * half, half);
    }

    @Benchmark
    @Threads(1)
    public float fmaPeak1Thread() {
        return fmaChains();
    }

    @Benchmark
    @Threads(2)
    public float fmaPeak2Threads() {
        return fmaChains();
    }

    private static float sum(MemorySegment m, long from, long bytes) {
        int step = F.vectorByteSize();
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        long end = from + bytes;
        for (long o = from; o < end; o += 4L * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, m, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, m, o + step, ByteOrder.LITTLE_ENDIAN));
            a2 = a2.add(FloatVector.fromMemorySegment(F, m, o + 2L * step, ByteOrder.LITTLE_ENDIAN));
            a3 = a3.add(FloatVector.fromMemorySegment(F, m, o + 3L * step, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    private static float fmaChains() {
        FloatVector m = FloatVector.broadcast(F, 0.999999f);
        FloatVector c = FloatVector.broadcast(F, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(F, 1f), a1 = a0.add(1f), a2 = a0.add(2f), a3 = a0.add(3f);
        FloatVector a4 = a0.add(4f), a5 = a0.add(5f), a6 = a0.add(6f), a7 = a0.add(7f);
        FloatVector a8 = a0.add(8f), a9 = a0.add(9f), a10 = a0.add(10f), a11 = a0.add(11f);
        for (int i = 0; i < FMA_ITERATIONS; i++) {
            a0 = a0.fma(m, c);
            a1 = a1.fma(m, c);
            a2 = a2.fma(m, c);
            a3 = a3.fma(m, c);
            a4 = a4.fma(m, c);
            a5 = a5.fma(m, c);
            a6 = a6.fma(m, c);
            a7 = a7.fma(m, c);
            a8 = a8.fma(m, c);
            a9 = a9.fma(m, c);
            a10 = a10.fma(m, c);
            a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11)
                .reduceLanes(VectorOperators.ADD);
    }

    /** Floating-point operations in one call of an FMA benchmark (an FMA counts as two). */
    static double flopsPerFmaCall() {
        return 2.0 * FMA_ITERATIONS * FMA_CHAINS * F.length();
    }
}

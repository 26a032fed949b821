package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.concurrent.CyclicBarrier;
import java.util.function.IntToDoubleFunction;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Measures the two ceilings of CPU inference on this machine: the streaming read bandwidth from memory (what
 * bounds decoding, which reads every weight once per token) and the peak rate of vector fused multiply-adds (what
 * bounds prefill and batched decode). Both are measured with the same Vector API species the kernels use, so
 * "percent of ceiling" compares like with like.
 *
 * <p>Each figure is the median of several timed repetitions, after a warm-up that lets C2 compile the loops:
 * shared machines are noisy.
 */
public final class HardwareProbe {
    private static final int REPETITIONS = 7;
    /** Independent accumulator chains: enough to cover FMA latency (4 cycles) times two FMA ports. */
    private static final int FMA_CHAINS = 12;

    /** A measured rate and the repetitions it is the median of. */
    public record Rate(double median, double best, int threads) {
    }

    private static volatile float sink;

    private HardwareProbe() {
    }

    /**
     * Streaming read bandwidth in bytes per second with {@code threads} threads, each summing its share of a
     * {@code bufferBytes} off-heap buffer (make it much larger than the last-level cache).
     */
    public static Rate readBandwidth(int threads, long bufferBytes) {
        long perThread = bufferBytes / threads / (4L * L * 4) * (4L * L * 4);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buffer = arena.allocate(perThread * threads, 64);
            // Touch every page so the first timed pass does not measure page faults.
            buffer.fill((byte) 1);
            double[] times = timeParallel(threads, 2, t -> {
                long start = System.nanoTime();
                sink += sumFloats(buffer, t * perThread, perThread);
                return System.nanoTime() - start;
            });
            return rate(times, perThread * threads, threads);
        }
    }

    /** Peak vector FMA throughput in floating-point operations per second (2 per lane per FMA). */
    public static Rate fmaRate(int threads) {
        long iterations = 5_000_000;
        double[] times = timeParallel(threads, 6, t -> {
            long start = System.nanoTime();
            sink += fmaLoop(iterations, 1f + t * 1e-7f);
            return System.nanoTime() - start;
        });
        double flops = 2.0 * L * FMA_CHAINS * iterations * threads;
        return rate(times, flops, threads);
    }

    private static Rate rate(double[] slowestNanos, double work, int threads) {
        double[] rates = new double[slowestNanos.length];
        for (int i = 0; i < rates.length; i++) {
            rates[i] = work / (slowestNanos[i] * 1e-9);
        }
        Arrays.sort(rates);
        return new Rate(rates[rates.length / 2], rates[rates.length - 1], threads);
    }

    /**
     * Runs {@code body} on {@code threads} threads together, {@code warmups + REPETITIONS} times; returns, per timed
     * repetition, the slowest thread's nanoseconds (the parallel pass ends when its last thread does).
     */
    private static double[] timeParallel(int threads, int warmups, IntToDoubleFunction body) {
        int rounds = warmups + REPETITIONS;
        double[][] nanos = new double[rounds][threads];
        CyclicBarrier barrier = new CyclicBarrier(threads);
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int id = t;
            workers[t] = Thread.ofPlatform().name("parallax-probe-" + t).start(() -> {
                try {
                    for (int r = 0; r < rounds; r++) {
                        barrier.await();
                        nanos[r][id] = body.applyAsDouble(id);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException("hardware probe thread " + id + " failed", e);
                }
            });
        }
        for (Thread w : workers) {
            try {
                w.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while measuring", e);
            }
        }
        double[] slowest = new double[REPETITIONS];
        for (int r = 0; r < REPETITIONS; r++) {
            slowest[r] = Arrays.stream(nanos[warmups + r]).max().orElseThrow();
        }
        return slowest;
    }

    private static float sumFloats(MemorySegment m, long offset, long bytes) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        long step = 4L * L;
        long end = offset + bytes;
        for (long i = offset; i < end; i += 4 * step) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, m, i, LE));
            a1 = a1.add(FloatVector.fromMemorySegment(F, m, i + step, LE));
            a2 = a2.add(FloatVector.fromMemorySegment(F, m, i + 2 * step, LE));
            a3 = a3.add(FloatVector.fromMemorySegment(F, m, i + 3 * step, LE));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }

    /** FMA_CHAINS independent chains a = a·m + c, in registers only. */
    private static float fmaLoop(long iterations, float seed) {
        FloatVector m = FloatVector.broadcast(F, 0.999999f);
        FloatVector c = FloatVector.broadcast(F, seed * 1e-6f);
        FloatVector a0 = FloatVector.broadcast(F, seed);
        FloatVector a1 = FloatVector.broadcast(F, seed + 1);
        FloatVector a2 = FloatVector.broadcast(F, seed + 2);
        FloatVector a3 = FloatVector.broadcast(F, seed + 3);
        FloatVector a4 = FloatVector.broadcast(F, seed + 4);
        FloatVector a5 = FloatVector.broadcast(F, seed + 5);
        FloatVector a6 = FloatVector.broadcast(F, seed + 6);
        FloatVector a7 = FloatVector.broadcast(F, seed + 7);
        FloatVector a8 = FloatVector.broadcast(F, seed + 8);
        FloatVector a9 = FloatVector.broadcast(F, seed + 9);
        FloatVector a10 = FloatVector.broadcast(F, seed + 10);
        FloatVector a11 = FloatVector.broadcast(F, seed + 11);
        for (long i = 0; i < iterations; i++) {
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
        FloatVector s = a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11);
        return s.reduceLanes(VectorOperators.ADD);
    }
}

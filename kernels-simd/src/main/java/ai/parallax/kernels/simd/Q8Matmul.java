package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.I;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.quant.Q8Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out = x · Wᵀ} for {@link Q8Weights Q8} weights: each block of 32 int8 values is widened to floats in
 * registers ({@code L} bytes at a time), multiplied by its block's scale and fused into the dot product with the
 * F32 activations. Activations stay float, so the only error is the weights' rounding to int8.
 *
 * <p>One token streams two rows at a time (see {@link #rows2Planes}). With 16-float vectors and rows of whole
 * 64-value groups it reads the bytes as int lanes: one 64-byte load holds four "byte planes", elements
 * {@code 4j + p} for {@code p = 0..3}, each sign-extended into its own float vector by two shifts ({@code (lane << 24 - 8p) >> 24}) and one conversion,
 * against activations rearranged once per call into the same plane order. The two blocks of a group share lanes
 * 0-7 and 8-15 of every plane, so one blended scale vector applies to the group's sum. This takes about half the
 * instructions per weight of widening 16 bytes at a time and keeps decode at memory speed.
 *
 * <p> Several tokens use 4 × 4 register tiles over L2-sized chunks of
 * tokens, as {@link Bf16PairedMatmul} does: a block of four rows is dequantised once per four tokens.
 */
final class Q8Matmul implements WorkerPool.ParallelTask {
    private static final int BLOCK = Q8Weights.BLOCK;
    /** Bytes that widen to one float vector: a quarter of its width. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(F.vectorBitSize() / 4));
    private static final long CHUNK_BYTES = 192 << 10;

    /** Values per group of byte planes: one int-lane load of 4·L bytes. */
    private static final int GROUP = 4 * L;
    /** Lanes 8-15: the second block of a 64-value group (used when L == 16). */
    private static final VectorMask<Float> SECOND_BLOCK = VectorMask.fromLong(F, 0xFF00L);

    private final Arena arena;
    private final float[][] sums;
    private MemorySegment planedX = MemorySegment.NULL;
    private boolean planes;
    private MemorySegment x;
    private MemorySegment w;
    private MemorySegment scales;
    private MemorySegment bias;
    private DType biasType;
    private MemorySegment out;
    private int tokens;
    private int n;
    private int k;

    Q8Matmul(Arena arena, int threads) {
        this.arena = arena;
        sums = new float[threads][16];
    }

    /** Whether the kernel runs this weight: Q8, with a vector width that divides the block. */
    static boolean accepts(Tensor w) {
        return Q8Weights.isQ8(w) && BLOCK % L == 0;
    }

    void set(MemorySegment x, Tensor w, MemorySegment bias, DType biasType, MemorySegment out, int tokens) {
        this.x = x;
        this.w = w.data();
        this.scales = w.blockScales().scales().data();
        this.bias = bias;
        this.biasType = biasType;
        this.out = out;
        this.tokens = tokens;
        this.n = (int) w.rowCount();
        this.k = (int) w.rowLength();
        // Byte planes need two whole blocks per group (16 lanes) and rows of whole groups. Only a token left alone
        // at the end (token count 4m + 1: decode, or a prompt's last token) runs the plane kernel; tiles of four
        // read x as it is, so only that token is reordered.
        this.planes = L == 16 && k % GROUP == 0 && tokens % 4 == 1;
        if (planes) {
            long bytes = 4L * k;
            if (planedX.byteSize() < bytes) {
                planedX = arena.allocate(bytes, 64);
            }
            toPlanes(x, 4L * (tokens - 1) * k, planedX, 0, k);
        }
    }

    /** Each group of 4·L floats as its four planes: elements 4j, then 4j + 1, 4j + 2 and 4j + 3. */
    static void toPlanes(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, int k) {
        for (int g = 0; g < k; g += GROUP) {
            for (int p = 0; p < 4; p++) {
                for (int j = 0; j < L; j++) {
                    dst.set(FLOAT, dstOffset + 4L * (g + p * L + j), src.get(FLOAT, srcOffset + 4L * (g + 4 * j + p)));
                }
            }
        }
    }

    void clear() {
        x = null;
        w = null;
        planes = false;
        scales = null;
        bias = null;
        out = null;
    }

    @Override
    public void run(int part, int parts) {
        int blocks = (n + 3) / 4;
        int from = SimdOps.split(blocks, part, parts);
        int to = SimdOps.split(blocks, part + 1, parts);
        float[] s = sums[part];
        long xRowBytes = 4L * k;
        int last = n - 1;
        int chunk = tokens == 1 ? 1 : (int) Math.max(4, CHUNK_BYTES / xRowBytes / 4 * 4);
        int lastToken = tokens - 1;
        for (int t0 = 0; t0 < tokens; t0 += chunk) {
            int t1 = Math.min(tokens, t0 + chunk);
            for (int b = from; b < to; b++) {
                int r = 4 * b;
                int valid = Math.min(4, n - r);
                int r1 = Math.min(r + 1, last);
                int r2 = Math.min(r + 2, last);
                int r3 = Math.min(r + 3, last);
                for (int t = t0; t < t1; t += 4) {
                    if (t1 - t == 1) {
                        if (planes) {
                            // t is the last token; two rows per call (see rows2Planes)
                            rows2Planes(planedX, 0, w, scales, r, r1, k, s, 0);
                            rows2Planes(planedX, 0, w, scales, r2, r3, k, s, 2);
                        } else {
                            rows4(x, xRowBytes * t, w, scales, r, r1, r2, r3, k, s);
                        }
                        store(s, 0, t, r, valid);
                        continue;
                    }
                    tile4x4(x, xRowBytes * t, xRowBytes * Math.min(t + 1, lastToken),
                            xRowBytes * Math.min(t + 2, lastToken), xRowBytes * Math.min(t + 3, lastToken),
                            w, scales, r, r1, r2, r3, k, s);
                    for (int i = 0; i < Math.min(4, t1 - t); i++) {
                        store(s, 4 * i, t + i, r, valid);
                    }
                }
            }
        }
    }

    private void store(float[] s, int at, int token, int row, int valid) {
        long base = ((long) token * n + row) * 4;
        for (int j = 0; j < valid; j++) {
            float v = s[at + j];
            if (bias != null) {
                v += VectorLoads.scalar(biasType, bias, row + j);
            }
            out.set(FLOAT, base + 4L * j, v);
        }
    }

    /** One x row against rows r0..r3: {@code sums[0..3]}. */
    static void rows4(MemorySegment x, long xr, MemorySegment w, MemorySegment scales, int r0, int r1, int r2,
                      int r3, int k, float[] sums) {
        int blocksPerRow = (k + BLOCK - 1) / BLOCK;
        int whole = k / BLOCK;
        long q0 = (long) r0 * k, q1 = (long) r1 * k, q2 = (long) r2 * k, q3 = (long) r3 * k;
        long s0 = 4L * r0 * blocksPerRow, s1 = 4L * r1 * blocksPerRow, s2 = 4L * r2 * blocksPerRow,
                s3 = 4L * r3 * blocksPerRow;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        for (int blk = 0; blk < whole; blk++) {
            int i0 = blk * BLOCK;
            FloatVector c0 = FloatVector.broadcast(F, scales.get(FLOAT, s0 + 4L * blk));
            FloatVector c1 = FloatVector.broadcast(F, scales.get(FLOAT, s1 + 4L * blk));
            FloatVector c2 = FloatVector.broadcast(F, scales.get(FLOAT, s2 + 4L * blk));
            FloatVector c3 = FloatVector.broadcast(F, scales.get(FLOAT, s3 + 4L * blk));
            for (int i = i0; i < i0 + BLOCK; i += L) {
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xr + 4L * i, LE);
                a0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q0 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c0).fma(xv, a0);
                a1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q1 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c1).fma(xv, a1);
                a2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q2 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c2).fma(xv, a2);
                a3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q3 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c3).fma(xv, a3);
            }
        }
        sums[0] = a0.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, scales, q0, s0, whole, k);
        sums[1] = a1.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, scales, q1, s1, whole, k);
        sums[2] = a2.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, scales, q2, s2, whole, k);
        sums[3] = a3.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, scales, q3, s3, whole, k);
    }

    /**
     * One x row in plane order against rows r0 and r1, for L == 16 and k a multiple of 64: {@code sums[at]} and
     * {@code sums[at + 1]}. The shifts and conversions are written out per row: a vector passed to a helper C2 does
     * not inline is boxed. Two rows, not four: C2 compiled the four-row form with some shift results boxed on the
     * heap in about half of the processes (JFR: int[] allocated in IntVector.lanewiseShiftTemplate, 386 MB per token
     * and more, decode at 6-12 instead of 16-18 tok/s, for the life of the process); the two-row form compiled
     * clean in 9 runs of 9, at 12-16 tok/s (it loads each activation vector once per two rows instead of four).
     */
    static void rows2Planes(MemorySegment xp, long xr, MemorySegment w, MemorySegment scales, int r0, int r1, int k,
                            float[] sums, int at) {
        int blocksPerRow = k / BLOCK;
        long q0 = (long) r0 * k, q1 = (long) r1 * k;
        long s0 = 4L * r0 * blocksPerRow, s1 = 4L * r1 * blocksPerRow;
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (int g = 0; g < k; g += GROUP) {
            long xo = xr + 4L * g;
            FloatVector x0 = FloatVector.fromMemorySegment(F, xp, xo, LE);
            FloatVector x1 = FloatVector.fromMemorySegment(F, xp, xo + 4L * L, LE);
            FloatVector x2 = FloatVector.fromMemorySegment(F, xp, xo + 8L * L, LE);
            FloatVector x3 = FloatVector.fromMemorySegment(F, xp, xo + 12L * L, LE);
            long sg = 4L * (g / BLOCK);
            IntVector v = IntVector.fromMemorySegment(I, w, q0 + g, LE);
            FloatVector p = ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).mul(x0);
            p = ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).fma(x1, p);
            p = ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).fma(x2, p);
            p = ((FloatVector) v.lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0)).fma(x3, p);
            a0 = p.fma(FloatVector.broadcast(F, scales.get(FLOAT, s0 + sg))
                    .blend(scales.get(FLOAT, s0 + sg + 4), SECOND_BLOCK), a0);
            v = IntVector.fromMemorySegment(I, w, q1 + g, LE);
            p = ((FloatVector) v.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).mul(x0);
            p = ((FloatVector) v.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).fma(x1, p);
            p = ((FloatVector) v.lanewise(VectorOperators.LSHL, 8).lanewise(VectorOperators.ASHR, 24)
                    .convert(VectorOperators.I2F, 0)).fma(x2, p);
            p = ((FloatVector) v.lanewise(VectorOperators.ASHR, 24).convert(VectorOperators.I2F, 0)).fma(x3, p);
            a1 = p.fma(FloatVector.broadcast(F, scales.get(FLOAT, s1 + sg))
                    .blend(scales.get(FLOAT, s1 + sg + 4), SECOND_BLOCK), a1);
        }
        sums[at] = a0.reduceLanes(VectorOperators.ADD);
        sums[at + 1] = a1.reduceLanes(VectorOperators.ADD);
    }

    /** Four x rows against rows r0..r3: {@code sums[4·token + row]}. */
    static void tile4x4(MemorySegment x, long x0, long x1, long x2, long x3, MemorySegment w, MemorySegment scales,
                        int r0, int r1, int r2, int r3, int k, float[] sums) {
        int blocksPerRow = (k + BLOCK - 1) / BLOCK;
        int whole = k / BLOCK;
        long q0 = (long) r0 * k, q1 = (long) r1 * k, q2 = (long) r2 * k, q3 = (long) r3 * k;
        long s0 = 4L * r0 * blocksPerRow, s1 = 4L * r1 * blocksPerRow, s2 = 4L * r2 * blocksPerRow,
                s3 = 4L * r3 * blocksPerRow;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int blk = 0; blk < whole; blk++) {
            int i0 = blk * BLOCK;
            FloatVector c0 = FloatVector.broadcast(F, scales.get(FLOAT, s0 + 4L * blk));
            FloatVector c1 = FloatVector.broadcast(F, scales.get(FLOAT, s1 + 4L * blk));
            FloatVector c2 = FloatVector.broadcast(F, scales.get(FLOAT, s2 + 4L * blk));
            FloatVector c3 = FloatVector.broadcast(F, scales.get(FLOAT, s3 + 4L * blk));
            for (int i = i0; i < i0 + BLOCK; i += L) {
                FloatVector v0 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q0 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c0);
                FloatVector v1 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q1 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c1);
                FloatVector v2 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q2 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c2);
                FloatVector v3 = ((FloatVector) ByteVector.fromMemorySegment(B, w, q3 + i, LE)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(c3);
                long xi = 4L * i;
                FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + xi, LE);
                a00 = v0.fma(xv, a00);
                a01 = v1.fma(xv, a01);
                a02 = v2.fma(xv, a02);
                a03 = v3.fma(xv, a03);
                xv = FloatVector.fromMemorySegment(F, x, x1 + xi, LE);
                a10 = v0.fma(xv, a10);
                a11 = v1.fma(xv, a11);
                a12 = v2.fma(xv, a12);
                a13 = v3.fma(xv, a13);
                xv = FloatVector.fromMemorySegment(F, x, x2 + xi, LE);
                a20 = v0.fma(xv, a20);
                a21 = v1.fma(xv, a21);
                a22 = v2.fma(xv, a22);
                a23 = v3.fma(xv, a23);
                xv = FloatVector.fromMemorySegment(F, x, x3 + xi, LE);
                a30 = v0.fma(xv, a30);
                a31 = v1.fma(xv, a31);
                a32 = v2.fma(xv, a32);
                a33 = v3.fma(xv, a33);
            }
        }
        sums[0] = a00.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, scales, q0, s0, whole, k);
        sums[1] = a01.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, scales, q1, s1, whole, k);
        sums[2] = a02.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, scales, q2, s2, whole, k);
        sums[3] = a03.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, scales, q3, s3, whole, k);
        sums[4] = a10.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, scales, q0, s0, whole, k);
        sums[5] = a11.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, scales, q1, s1, whole, k);
        sums[6] = a12.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, scales, q2, s2, whole, k);
        sums[7] = a13.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, scales, q3, s3, whole, k);
        sums[8] = a20.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, scales, q0, s0, whole, k);
        sums[9] = a21.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, scales, q1, s1, whole, k);
        sums[10] = a22.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, scales, q2, s2, whole, k);
        sums[11] = a23.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, scales, q3, s3, whole, k);
        sums[12] = a30.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, scales, q0, s0, whole, k);
        sums[13] = a31.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, scales, q1, s1, whole, k);
        sums[14] = a32.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, scales, q2, s2, whole, k);
        sums[15] = a33.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, scales, q3, s3, whole, k);
    }

    /** The partial last block of a row, if any, in scalar code. */
    private static float tail(MemorySegment x, long xr, MemorySegment w, MemorySegment scales, long q, long s,
                              int whole, int k) {
        int from = whole * BLOCK;
        if (from == k) {
            return 0;
        }
        float sum = 0;
        for (int i = from; i < k; i++) {
            sum += x.get(FLOAT, xr + 4L * i) * w.get(ValueLayout.JAVA_BYTE, q + i);
        }
        return sum * scales.get(FLOAT, s + 4L * whole);
    }
}

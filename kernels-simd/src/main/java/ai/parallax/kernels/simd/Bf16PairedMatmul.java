package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.I;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;
import static ai.parallax.kernels.simd.VectorLoads.SHORT;

import ai.parallax.tensors.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code out = x · Wᵀ} for BF16 weights, reading each weight vector as pairs.
 *
 * <p>A BF16 value is the upper half of a float. Loaded as one int lane, a pair of neighbouring BF16 weights
 * {@code (w[2j], w[2j+1])} gives both floats with one cheap op each: {@code lane << 16} is {@code w[2j]} and
 * {@code lane & 0xFFFF0000} is {@code w[2j+1]}. One full-width int load thus yields two float vectors (the even
 * and the odd elements of {@code 2L} weights) without the cross-lane widening of a short-to-int conversion. The
 * activations are rearranged to match once per call: each block of {@code 2L} floats of x becomes its
 * {@code L} even elements followed by its {@code L} odd ones. That copy costs {@code T·k} floats, nothing beside
 * the {@code N·k} weights.
 *
 * <p>Decode (one token) streams eight weight rows per pass. Several tokens use 4 × 4 register tiles (each
 * weight vector converted once per four tokens) over chunks of tokens whose activations fit in the L2 cache.
 * Within a chunk the activations stay put and the weights move: the four token rows of a tile, over a span of k,
 * sit in L1 while a group of weight row blocks (held in L2) passes under them; then the next tile of tokens meets
 * the same group. A weight load brings 32 BF16 elements and an activation load only 16 floats, so letting the
 * weights come from L2 halves the L2 traffic of the opposite order (measured 10–15% more FLOP/s per core on the
 * shapes of a 1B model at 8 and 32 tokens).
 *
 * <p>The even/odd extraction is written out at every use rather than in a helper: a vector that crosses a call C2
 * did not inline is boxed on the heap.
 *
 * <p>Allocation-free after warm-up: the rearranged activations live in an off-heap scratch that grows only when a
 * larger product first needs it.
 */
final class Bf16PairedMatmul implements WorkerPool.ParallelTask {
    /**
     * Activations of one token chunk over one span of k should stay in a core's L2 cache (at least 512 KiB on
     * current x86) beside a group of weights ({@link #GROUP_BYTES}).
     */
    private static final long CHUNK_BYTES = 256 << 10;
    private static final int BLOCK = 2 * L;
    /**
     * Elements of k that one tile of four tokens covers before moving on: four rows of activations over this span
     * (32 KiB) stay in a 48 KiB L1 data cache while the weight rows stream past them. A multiple of {@link #BLOCK},
     * so every span starts on a pair block.
     */
    private static final int K_SPAN = 2048;
    /**
     * Weight bytes of one group of row blocks over one span: small enough to stay in L2 while every token tile of
     * the chunk passes over them, so each weight byte comes from memory once per chunk.
     */
    private static final long GROUP_BYTES = 256 << 10;

    private final Arena arena;
    private final float[][] sums;
    /** Per part: what {@link WeightPrefetch} read, kept so that its loads stay. */
    private final int[] prefetched;
    private MemorySegment pairedX = MemorySegment.NULL;
    private MemorySegment w;
    private MemorySegment bias;
    private DType biasType;
    private MemorySegment out;
    private int tokens;
    private int n;
    private int k;

    Bf16PairedMatmul(Arena arena, int threads) {
        this.arena = arena;
        this.sums = new float[threads][16];
        this.prefetched = new int[threads];
    }

    /** Whether the reduction length suits this kernel: at least one whole pair block. */
    static boolean accepts(long k) {
        return k >= BLOCK;
    }

    /** Rearranges {@code x} and sets up a product; then {@code pool.run(this, parts)}. */
    void set(MemorySegment x, MemorySegment w, MemorySegment bias, DType biasType, MemorySegment out, int tokens,
             int n, int k) {
        pairedX = pairRows(arena, pairedX, x, tokens, k);
        this.w = w;
        this.bias = bias;
        this.biasType = biasType;
        this.out = out;
        this.tokens = tokens;
        this.n = n;
        this.k = k;
    }

    void clear() {
        w = null;
        bias = null;
        out = null;
    }

    /**
     * The {@code tokens} rows of {@code x} {@link #pair paired} into {@code scratch}, or into a larger segment from
     * {@code arena} when it is too small; returns the segment that holds them.
     */
    static MemorySegment pairRows(Arena arena, MemorySegment scratch, MemorySegment x, int tokens, int k) {
        long bytes = 4L * tokens * k;
        if (scratch.byteSize() < bytes) {
            scratch = arena.allocate(Math.max(bytes, 2 * scratch.byteSize()), 64);
        }
        for (int t = 0; t < tokens; t++) {
            pair(x, 4L * t * k, scratch, 4L * t * k, k);
        }
        return scratch;
    }

    /** Each whole block of 2L floats: its even elements, then its odd ones; the tail is copied as it is. */
    static void pair(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, int k) {
        int pairedEnd = k - k % BLOCK;
        for (int b = 0; b < pairedEnd; b += BLOCK) {
            for (int j = 0; j < L; j++) {
                dst.set(FLOAT, dstOffset + 4L * (b + j), src.get(FLOAT, srcOffset + 4L * (b + 2 * j)));
                dst.set(FLOAT, dstOffset + 4L * (b + L + j), src.get(FLOAT, srcOffset + 4L * (b + 2 * j + 1)));
            }
        }
        MemorySegment.copy(src, srcOffset + 4L * pairedEnd, dst, dstOffset + 4L * pairedEnd, 4L * (k - pairedEnd));
    }

    @Override
    public void run(int part, int parts) {
        int blocks = (n + 3) / 4;
        int from = SimdOps.split(blocks, part, parts);
        int to = SimdOps.split(blocks, part + 1, parts);
        float[] s = sums[part];
        long rowBytes = 2L * k;
        long xRowBytes = 4L * k;
        int last = n - 1;
        if (tokens == 1) {
            for (int b = from; b < to; b++) {
                int r = 4 * b;
                if (b + 1 < to && r + 8 <= n) {
                    rows8(pairedX, 0, w, rowBytes * r, rowBytes, k, s);
                    store(s, 0, 0, r, 8);
                    b++;
                } else {
                    rows4(pairedX, 0, w, rowBytes * r, rowBytes * Math.min(r + 1, last),
                            rowBytes * Math.min(r + 2, last), rowBytes * Math.min(r + 3, last), k, s);
                    store(s, 0, 0, r, Math.min(4, n - r));
                }
            }
            return;
        }
        int lastToken = tokens - 1;
        int span = Math.min(k, K_SPAN);
        int chunk = (int) Math.max(4, CHUNK_BYTES / (4L * span) / 4 * 4);
        int groupBlocks = (int) Math.max(1, GROUP_BYTES / (4L * 2 * span));
        for (int t0 = 0; t0 < tokens; t0 += chunk) {
            int t1 = Math.min(tokens, t0 + chunk);
            for (int g = from; g < to; g += groupBlocks) {
                int gEnd = Math.min(to, g + groupBlocks);
                for (int k0 = 0; k0 < k; k0 += span) {
                    int len = Math.min(span, k - k0);
                    boolean accumulate = k0 > 0;
                    long xk = 4L * k0;
                    long wk = 2L * k0;
                    if (t0 == 0) {
                        // The first tile of tokens meets this group's weights in L2, not DRAM.
                        prefetched[part] ^= WeightPrefetch.rows(w, rowBytes, 4 * g, Math.min(4 * gEnd, n), wk,
                                2L * len);
                    }
                    for (int t = t0; t < t1; t += 4) {
                        int remaining = t1 - t;
                        long x0 = xRowBytes * t + xk;
                        long x1 = xRowBytes * Math.min(t + 1, lastToken) + xk;
                        long x2 = xRowBytes * Math.min(t + 2, lastToken) + xk;
                        long x3 = xRowBytes * Math.min(t + 3, lastToken) + xk;
                        int validTokens = Math.min(4, remaining);
                        for (int b = g; b < gEnd; b++) {
                            int r = 4 * b;
                            int valid = Math.min(4, n - r);
                            long w0 = rowBytes * r + wk;
                            long w1 = rowBytes * Math.min(r + 1, last) + wk;
                            long w2 = rowBytes * Math.min(r + 2, last) + wk;
                            long w3 = rowBytes * Math.min(r + 3, last) + wk;
                            if (remaining == 1) {
                                rows4(pairedX, x0, w, w0, w1, w2, w3, len, s);
                                store(s, 0, t, r, valid, accumulate);
                                continue;
                            }
                            tile4x4(pairedX, x0, x1, x2, x3, w, w0, w1, w2, w3, len, s);
                            for (int i = 0; i < validTokens; i++) {
                                store(s, 4 * i, t + i, r, valid, accumulate);
                            }
                        }
                    }
                }
            }
        }
    }

    private void store(float[] s, int at, int token, int row, int valid) {
        store(s, at, token, row, valid, false);
    }

    /** Writes {@code valid} sums plus the bias, or with {@code accumulate} adds them to an earlier span's sums. */
    private void store(float[] s, int at, int token, int row, int valid, boolean accumulate) {
        long base = ((long) token * n + row) * 4;
        for (int j = 0; j < valid; j++) {
            float v = s[at + j];
            if (accumulate) {
                v += out.get(FLOAT, base + 4L * j);
            } else if (bias != null) {
                v += VectorLoads.scalar(biasType, bias, row + j);
            }
            out.set(FLOAT, base + 4L * j, v);
        }
    }

    private static final int HIGH_HALF = 0xFFFF0000;

    /** Eight consecutive rows from {@code w0} (row stride {@code rowBytes}) against one paired x row. */
    static void rows8(MemorySegment x, long xr, MemorySegment w, long w0, long rowBytes, int k, float[] sums) {
        int pairedEnd = k - k % BLOCK;
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        long w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes, w4 = w3 + rowBytes, w5 = w4 + rowBytes,
                w6 = w5 + rowBytes, w7 = w6 + rowBytes;
        for (int i = 0; i < pairedEnd; i += BLOCK) {
            FloatVector xe = FloatVector.fromMemorySegment(F, x, xr + 4L * i, LE);
            FloatVector xo = FloatVector.fromMemorySegment(F, x, xr + 4L * (i + L), LE);
            long wi = 2L * i;
            IntVector p = IntVector.fromMemorySegment(I, w, w0 + wi, LE);
            a0 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a0);
            a0 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a0);
            p = IntVector.fromMemorySegment(I, w, w1 + wi, LE);
            a1 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a1);
            a1 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a1);
            p = IntVector.fromMemorySegment(I, w, w2 + wi, LE);
            a2 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a2);
            a2 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a2);
            p = IntVector.fromMemorySegment(I, w, w3 + wi, LE);
            a3 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a3);
            a3 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a3);
            p = IntVector.fromMemorySegment(I, w, w4 + wi, LE);
            a4 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a4);
            a4 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a4);
            p = IntVector.fromMemorySegment(I, w, w5 + wi, LE);
            a5 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a5);
            a5 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a5);
            p = IntVector.fromMemorySegment(I, w, w6 + wi, LE);
            a6 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a6);
            a6 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a6);
            p = IntVector.fromMemorySegment(I, w, w7 + wi, LE);
            a7 = p.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a7);
            a7 = p.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, a7);
        }
        sums[0] = a0.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w0, pairedEnd, k);
        sums[1] = a1.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w1, pairedEnd, k);
        sums[2] = a2.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w2, pairedEnd, k);
        sums[3] = a3.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w3, pairedEnd, k);
        sums[4] = a4.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w4, pairedEnd, k);
        sums[5] = a5.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w5, pairedEnd, k);
        sums[6] = a6.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w6, pairedEnd, k);
        sums[7] = a7.reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w7, pairedEnd, k);
    }

    /** Four rows at the given offsets against one paired x row; two accumulator chains per row. */
    static void rows4(MemorySegment x, long xr, MemorySegment w, long w0, long w1, long w2, long w3, int k,
                      float[] sums) {
        int pairedEnd = k - k % BLOCK;
        FloatVector e0 = FloatVector.zero(F), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
        for (int i = 0; i < pairedEnd; i += BLOCK) {
            FloatVector xe = FloatVector.fromMemorySegment(F, x, xr + 4L * i, LE);
            FloatVector xo = FloatVector.fromMemorySegment(F, x, xr + 4L * (i + L), LE);
            long wi = 2L * i;
            IntVector p0 = IntVector.fromMemorySegment(I, w, w0 + wi, LE);
            IntVector p1 = IntVector.fromMemorySegment(I, w, w1 + wi, LE);
            IntVector p2 = IntVector.fromMemorySegment(I, w, w2 + wi, LE);
            IntVector p3 = IntVector.fromMemorySegment(I, w, w3 + wi, LE);
            e0 = p0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e0);
            o0 = p0.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, o0);
            e1 = p1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e1);
            o1 = p1.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, o1);
            e2 = p2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e2);
            o2 = p2.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, o2);
            e3 = p3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, e3);
            o3 = p3.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().fma(xo, o3);
        }
        sums[0] = e0.add(o0).reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w0, pairedEnd, k);
        sums[1] = e1.add(o1).reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w1, pairedEnd, k);
        sums[2] = e2.add(o2).reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w2, pairedEnd, k);
        sums[3] = e3.add(o3).reduceLanes(VectorOperators.ADD) + tail(x, xr, w, w3, pairedEnd, k);
    }

    /** Four tokens against four rows: {@code sums[4·token + row]}; each weight pair converted once for all four. */
    static void tile4x4(MemorySegment x, long x0, long x1, long x2, long x3,
                        MemorySegment w, long w0, long w1, long w2, long w3, int k, float[] sums) {
        int pairedEnd = k - k % BLOCK;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < pairedEnd; i += BLOCK) {
            long wi = 2L * i;
            IntVector p0 = IntVector.fromMemorySegment(I, w, w0 + wi, LE);
            IntVector p1 = IntVector.fromMemorySegment(I, w, w1 + wi, LE);
            IntVector p2 = IntVector.fromMemorySegment(I, w, w2 + wi, LE);
            IntVector p3 = IntVector.fromMemorySegment(I, w, w3 + wi, LE);
            FloatVector e0 = p0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector e1 = p1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector e2 = p2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector e3 = p3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            long xe = 4L * i;
            long xo = 4L * (i + L);
            FloatVector v = FloatVector.fromMemorySegment(F, x, x0 + xe, LE);
            a00 = e0.fma(v, a00);
            a01 = e1.fma(v, a01);
            a02 = e2.fma(v, a02);
            a03 = e3.fma(v, a03);
            v = FloatVector.fromMemorySegment(F, x, x1 + xe, LE);
            a10 = e0.fma(v, a10);
            a11 = e1.fma(v, a11);
            a12 = e2.fma(v, a12);
            a13 = e3.fma(v, a13);
            v = FloatVector.fromMemorySegment(F, x, x2 + xe, LE);
            a20 = e0.fma(v, a20);
            a21 = e1.fma(v, a21);
            a22 = e2.fma(v, a22);
            a23 = e3.fma(v, a23);
            v = FloatVector.fromMemorySegment(F, x, x3 + xe, LE);
            a30 = e0.fma(v, a30);
            a31 = e1.fma(v, a31);
            a32 = e2.fma(v, a32);
            a33 = e3.fma(v, a33);
            FloatVector o0 = p0.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            FloatVector o1 = p1.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            FloatVector o2 = p2.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            FloatVector o3 = p3.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats();
            v = FloatVector.fromMemorySegment(F, x, x0 + xo, LE);
            a00 = o0.fma(v, a00);
            a01 = o1.fma(v, a01);
            a02 = o2.fma(v, a02);
            a03 = o3.fma(v, a03);
            v = FloatVector.fromMemorySegment(F, x, x1 + xo, LE);
            a10 = o0.fma(v, a10);
            a11 = o1.fma(v, a11);
            a12 = o2.fma(v, a12);
            a13 = o3.fma(v, a13);
            v = FloatVector.fromMemorySegment(F, x, x2 + xo, LE);
            a20 = o0.fma(v, a20);
            a21 = o1.fma(v, a21);
            a22 = o2.fma(v, a22);
            a23 = o3.fma(v, a23);
            v = FloatVector.fromMemorySegment(F, x, x3 + xo, LE);
            a30 = o0.fma(v, a30);
            a31 = o1.fma(v, a31);
            a32 = o2.fma(v, a32);
            a33 = o3.fma(v, a33);
        }
        sums[0] = a00.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, w0, pairedEnd, k);
        sums[1] = a01.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, w1, pairedEnd, k);
        sums[2] = a02.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, w2, pairedEnd, k);
        sums[3] = a03.reduceLanes(VectorOperators.ADD) + tail(x, x0, w, w3, pairedEnd, k);
        sums[4] = a10.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, w0, pairedEnd, k);
        sums[5] = a11.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, w1, pairedEnd, k);
        sums[6] = a12.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, w2, pairedEnd, k);
        sums[7] = a13.reduceLanes(VectorOperators.ADD) + tail(x, x1, w, w3, pairedEnd, k);
        sums[8] = a20.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, w0, pairedEnd, k);
        sums[9] = a21.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, w1, pairedEnd, k);
        sums[10] = a22.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, w2, pairedEnd, k);
        sums[11] = a23.reduceLanes(VectorOperators.ADD) + tail(x, x2, w, w3, pairedEnd, k);
        sums[12] = a30.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, w0, pairedEnd, k);
        sums[13] = a31.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, w1, pairedEnd, k);
        sums[14] = a32.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, w2, pairedEnd, k);
        sums[15] = a33.reduceLanes(VectorOperators.ADD) + tail(x, x3, w, w3, pairedEnd, k);
    }

    /** Scalar sum over the elements past the last whole pair block (x there is not rearranged). */
    private static float tail(MemorySegment x, long xr, MemorySegment w, long wr, int from, int k) {
        float s = 0;
        for (int i = from; i < k; i++) {
            s += x.get(FLOAT, xr + 4L * i) * Float.intBitsToFloat(w.get(SHORT, wr + 2L * i) << 16);
        }
        return s;
    }
}

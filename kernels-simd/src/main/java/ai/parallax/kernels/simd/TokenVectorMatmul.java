package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.I;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.quant.Q8Weights;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * {@code out = x · Wᵀ} for BF16, F16 or F32 weights and many tokens (a batched decode step of 32 or a prefill),
 * in the register-blocked form of a GEMM whose vector lanes hold tokens: no dot product, so no horizontal sums.
 *
 * <p>The activations are transposed once per call so that one vector holds 16 tokens' activation at the same
 * {@code k}. The weights of {@link #ROWS} rows over a span of k are widened to F32 into a small buffer (four rows
 * side by side, sequential reads, one conversion per 16 weights); the next block's buffer is filled between
 * slices of the current block's FMAs. The micro-kernel loads two activation vectors (32 tokens) per step of k,
 * broadcasts each of the twelve rows' weight from the buffer and issues 24 FMAs: 24 accumulators, two activation
 * vectors and a broadcast fit the 32 AVX-512 registers, and the loop needs 14 loads per 24 FMAs. Each weight is
 * read from memory once per call and from the buffer once per 32 tokens. Alone (buffer already filled) the
 * micro-kernel runs at 82–90% of a core's FMA peak; what is left is mostly the widening, whose reads from DRAM
 * the FMAs hide only in part.
 *
 * <p>The other register-blocked form, lanes holding 16 output rows, needs the weights transposed, which costs
 * more than the FMAs it feeds at 8 or 32 tokens (measured); this form transposes the activations, which are
 * {@code n} times fewer. With fewer tokens the activation vectors are partly padding: below 32 BF16 tokens it
 * loses to {@link Bf16PairedMatmul} (at 16 tokens by 20–35%), below 16 F16 or F32 tokens to
 * {@link MatmulKernels}.
 *
 * <p>Q8 weights (int8 in blocks of 32 with one F32 scale each) are dequantised as they are widened: two 16-byte
 * loads and one scale per block, so a prompt or a batch of 32+ tokens runs the same micro-kernel as BF16.
 *
 * <p>Written for 16 float lanes (the transposition of the activations); {@link #accepts} says no elsewhere.
 * Allocation-free after warm-up: buffers grow only when a larger product first needs them.
 */
final class TokenVectorMatmul implements WorkerPool.ParallelTask {
    /** Weight rows per micro-kernel call: 12 rows × 2 token vectors = 24 accumulators. */
    static final int ROWS = 12;
    /** Tokens of one group: two vectors. */
    static final int GROUP = 2 * L;
    /** Elements of k whose widened weights (12 rows, 96 KiB) and one group's activations stay in L2. */
    static final int K_SPAN = 2048;
    /**
     * Floats between two rows of widened weights: one cache line more than a span, so that the twelve rows a step
     * of k reads do not all fall into the same set of the L1 cache (a span is a multiple of 4 KiB).
     */
    private static final int PITCH = K_SPAN + 16;
    private static final int[] TRANSPOSE = transposeIndices();

    /** Per part: two buffers of widened weights, used in turn. */
    private final float[][][] widened;
    private final float[][] sums;
    /** Per part: what {@link WeightPrefetch} read, kept so that its loads stay. */
    private final int[] prefetched;
    private final int[][] transposed;
    private float[] xt = new float[0];
    private final Arena arena;
    /** BF16 products: x with each block of 32 floats as its 16 even elements, then its 16 odd ones. */
    private MemorySegment pairedX = MemorySegment.NULL;
    private MemorySegment w;
    private DType dtype;
    /** Q8 weights ({@code dtype} I8): one F32 scale per block of 32 values of a row; otherwise null. */
    private MemorySegment scales;
    private MemorySegment bias;
    private DType biasType;
    private MemorySegment out;
    private int tokens;
    private int n;
    private int k;

    TokenVectorMatmul(Arena arena, int threads) {
        this.arena = arena;
        widened = new float[threads][2][ROWS * PITCH];
        sums = new float[threads][0];
        prefetched = new int[threads];
        transposed = new int[threads][L * L];
    }

    /**
     * Whether this kernel serves the product: 16-lane float vectors, weights it can widen, and enough tokens to
     * beat the dot-product kernels (measured on the shapes of a 1B model: BF16 from 32 tokens, F16 and F32, whose
     * 4 × 4 tiles are slower, from 16).
     */
    static boolean accepts(DType dtype, long tokens) {
        return L == 16 && switch (dtype) {
            // I8: Q8 weights, the only int8 weights a matmul takes (the Q8 tiles dequantise each block once per
            // four tokens; this kernel once per call).
            case BF16, I8 -> tokens >= 32;
            case F16, F32 -> tokens >= L;
            default -> false;
        };
    }

    /** Blocks of rows the product splits into, the most parts worth running. */
    static long rowBlocks(long n) {
        return (n + ROWS - 1) / ROWS;
    }

    /** Transposes {@code x} into token vectors and sets up a product; then {@code pool.run(this, parts)}. */
    void set(MemorySegment x, MemorySegment w, DType dtype, MemorySegment scales, MemorySegment bias, DType biasType,
             MemorySegment out, int tokens, int n, int k) {
        int groups = (tokens + GROUP - 1) / GROUP;
        long size = (long) groups * k * GROUP;
        if (size > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("matmul: " + tokens + " tokens of " + k
                    + " activations exceed a Java array");
        }
        if (xt.length < size) {
            xt = new float[(int) size];
        }
        int accSize = groups * ROWS * GROUP;
        for (int p = 0; p < sums.length; p++) {
            if (sums[p].length < accSize) {
                sums[p] = new float[accSize];
            }
        }
        if (dtype == DType.BF16) {
            // The BF16 weights are widened in pairs (see widenBf16), which orders each block of 32 values as its
            // even elements, then its odd ones; the activations take the same order, so the sums over k are
            // unchanged.
            pairedX = Bf16PairedMatmul.pairRows(arena, pairedX, x, tokens, k);
            x = pairedX;
        }
        transposeTokens(x, tokens, k, xt, transposed[0]);
        this.w = w;
        this.dtype = dtype;
        this.scales = scales;
        this.bias = bias;
        this.biasType = biasType;
        this.out = out;
        this.tokens = tokens;
        this.n = n;
        this.k = k;
    }

    void clear() {
        w = null;
        scales = null;
        bias = null;
        out = null;
    }

    @Override
    public void run(int part, int parts) {
        int blocks = (int) rowBlocks(n);
        int from = SimdOps.split(blocks, part, parts);
        int to = SimdOps.split(blocks, part + 1, parts);
        if (from == to) {
            return;
        }
        float[][] buffers = widened[part];
        float[] acc = sums[part];
        int groups = (tokens + GROUP - 1) / GROUP;
        int spans = (k + K_SPAN - 1) / K_SPAN;
        // Units of work in order: (row block, span). The next unit's weights are widened a few rows at a time
        // between slices of this unit's FMAs, so that their memory reads overlap the arithmetic.
        int units = (to - from) * spans;
        widenRows(buffers[0], from * ROWS, 0, Math.min(K_SPAN, k), 0, ROWS);
        for (int u = 0; u < units; u++) {
            int r = (from + u / spans) * ROWS;
            int span = u % spans;
            int k0 = span * K_SPAN;
            int len = Math.min(K_SPAN, k - k0);
            float[] wf = buffers[u & 1];
            float[] next = buffers[(u + 1) & 1];
            int nextRow = (from + (u + 1) / spans) * ROWS;
            int nextK0 = ((u + 1) % spans) * K_SPAN;
            int nextLen = u + 1 < units ? Math.min(K_SPAN, k - nextK0) : 0;
            int slices = groups * ((len + SLICE - 1) / SLICE);
            int rowsPerSlice = nextLen == 0 ? 0 : (ROWS + 4 * slices - 1) / (4 * slices) * 4;
            int widenedRows = 0;
            if (nextLen > 0) {
                // The next unit's weights, widened between this unit's FMAs, then come from L2, not DRAM.
                long size = dtype.byteSize();
                prefetched[part] ^= WeightPrefetch.rows(w, size * k, nextRow, Math.min(nextRow + ROWS, n),
                        size * nextK0, size * nextLen);
            }
            if (span == 0) {
                Arrays.fill(acc, 0, groups * ROWS * GROUP, 0f);
            }
            for (int g = 0; g < groups; g++) {
                int xb = (g * k + k0) * GROUP;
                boolean full = tokens - g * GROUP > L;
                for (int s = 0; s < len; s += SLICE) {
                    int end = Math.min(len, s + SLICE);
                    if (full) {
                        kernel32(xt, xb, wf, s, end, acc, g * ROWS * GROUP);
                    } else {
                        kernel16(xt, xb, wf, s, end, acc, g * ROWS * GROUP);
                    }
                    int rows = Math.min(rowsPerSlice, ROWS - widenedRows);
                    widenRows(next, nextRow, nextK0, nextLen, widenedRows, rows);
                    widenedRows += rows;
                }
            }
            if (span == spans - 1) {
                store(acc, r);
            }
        }
    }

    /** Steps of k between two rows of the next unit's widening. */
    private static final int SLICE = 256;

    /**
     * Rows {@code r+first..r+first+count} of the block at {@code r} over {@code k0..k0+len} as floats, row j at
     * {@code j·PITCH}; rows past n repeat the last (their sums are never stored).
     */
    private void widenRows(float[] wf, int r, int k0, int len, int first, int count) {
        int last = n - 1;
        int whole = len - len % (dtype == DType.BF16 ? PAIR_BLOCK : dtype == DType.I8 ? Q8_BLOCK : L);
        long size = dtype.byteSize();
        int j = first;
        for (; j < first + count; j += 4) {
            // Four rows side by side (the last repeated when fewer are left): four streams of reads in flight,
            // as many as the dot-product kernels keep.
            int rows = Math.min(4, first + count - j);
            long row0 = size * ((long) Math.min(r + j, last) * k + k0);
            long row1 = size * ((long) Math.min(r + j + Math.min(1, rows - 1), last) * k + k0);
            long row2 = size * ((long) Math.min(r + j + Math.min(2, rows - 1), last) * k + k0);
            long row3 = size * ((long) Math.min(r + j + Math.min(3, rows - 1), last) * k + k0);
            int at0 = j * PITCH;
            int at1 = (j + Math.min(1, rows - 1)) * PITCH;
            int at2 = (j + Math.min(2, rows - 1)) * PITCH;
            int at3 = (j + Math.min(3, rows - 1)) * PITCH;
            switch (dtype) {
                case BF16 -> widenBf16(w, row0, row1, row2, row3, wf, at0, at1, at2, at3, whole);
                case I8 -> widenQ8(w, row0, row1, row2, row3, scales, scaleOffset(row0), scaleOffset(row1),
                        scaleOffset(row2), scaleOffset(row3), wf, at0, at1, at2, at3, whole);
                case F16 -> widenF16(w, row0, row1, row2, row3, wf, at0, at1, at2, at3, whole);
                default -> widenF32(w, row0, row1, row2, row3, wf, at0, at1, at2, at3, whole);
            }
        }
        for (j = first; j < first + count; j++) {
            long index = (long) Math.min(r + j, last) * k + k0;
            for (int kk = whole; kk < len; kk++) {
                wf[j * PITCH + kk] = dtype == DType.I8
                        ? w.get(ValueLayout.JAVA_BYTE, index + kk) * scales.get(FLOAT, scaleOffset(index + kk))
                        : VectorLoads.scalar(dtype, w, index + kk);
            }
        }
    }

    /*
     * One loop per type, each in a method of its own: a call site that is hot in its method gets its small
     * conversion inlined, and a vector crossing a call that is not inlined would be boxed on the heap.
     */

    private static final int Q8_BLOCK = Q8Weights.BLOCK;
    /** Byte offset of the scale of the Q8 block that holds weight {@code index} (row-major, k per row). */
    private long scaleOffset(long index) {
        return 4L * (index / k * ((k + Q8_BLOCK - 1) / Q8_BLOCK) + index % k / Q8_BLOCK);
    }

    /**
     * Each block of 32 Q8 weights times its block's scale, 16 bytes widened to floats at a time; the rows start at
     * a block boundary ({@code whole} is a multiple of 32), and {@code s0..s3} are their first blocks' scales.
     */
    private static void widenQ8(MemorySegment w, long row0, long row1, long row2, long row3, MemorySegment scales,
                                long s0, long s1, long s2, long s3, float[] wf, int at0, int at1, int at2, int at3,
                                int whole) {
        for (int kk = 0; kk < whole; kk += Q8_BLOCK) {
            long sk = 4L * (kk / Q8_BLOCK);
            FloatVector c = FloatVector.broadcast(F, scales.get(FLOAT, s0 + sk));
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row0 + kk, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at0 + kk);
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row0 + kk + L, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at0 + kk + L);
            c = FloatVector.broadcast(F, scales.get(FLOAT, s1 + sk));
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row1 + kk, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at1 + kk);
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row1 + kk + L, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at1 + kk + L);
            c = FloatVector.broadcast(F, scales.get(FLOAT, s2 + sk));
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row2 + kk, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at2 + kk);
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row2 + kk + L, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at2 + kk + L);
            c = FloatVector.broadcast(F, scales.get(FLOAT, s3 + sk));
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row3 + kk, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at3 + kk);
            ((FloatVector) ByteVector.fromMemorySegment(Q8Matmul.B, w, row3 + kk + L, LE)
                    .convertShape(VectorOperators.B2F, F, 0)).mul(c).intoArray(wf, at3 + kk + L);
        }
    }

    /** Values of one paired block: one int-lane load of BF16 pairs, as {@link Bf16PairedMatmul} reads them. */
    private static final int PAIR_BLOCK = 2 * L;
    private static final int HIGH_HALF = 0xFFFF0000;

    /**
     * Each block of 32 BF16 weights as its 16 even elements, then its 16 odd ones: one int load gives both, by a
     * shift and a mask, with the same vector operations as {@link Bf16PairedMatmul}'s dot products (and no
     * short-to-int conversion), so the kernels share their compiled forms instead of widening each other's profiles.
     */
    private static void widenBf16(MemorySegment w, long row0, long row1, long row2, long row3, float[] wf, int at0,
                                  int at1, int at2, int at3, int whole) {
        for (int kk = 0; kk < whole; kk += PAIR_BLOCK) {
            long o = 2L * kk;
            IntVector p0 = IntVector.fromMemorySegment(I, w, row0 + o, LE);
            IntVector p1 = IntVector.fromMemorySegment(I, w, row1 + o, LE);
            IntVector p2 = IntVector.fromMemorySegment(I, w, row2 + o, LE);
            IntVector p3 = IntVector.fromMemorySegment(I, w, row3 + o, LE);
            p0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(wf, at0 + kk);
            p0.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().intoArray(wf, at0 + kk + L);
            p1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(wf, at1 + kk);
            p1.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().intoArray(wf, at1 + kk + L);
            p2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(wf, at2 + kk);
            p2.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().intoArray(wf, at2 + kk + L);
            p3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(wf, at3 + kk);
            p3.lanewise(VectorOperators.AND, HIGH_HALF).reinterpretAsFloats().intoArray(wf, at3 + kk + L);
        }
    }

    private static void widenF16(MemorySegment w, long row0, long row1, long row2, long row3, float[] wf, int at0,
                                 int at1, int at2, int at3, int whole) {
        for (int kk = 0; kk < whole; kk += L) {
            long o = 2L * kk;
            VectorLoads.f16(w, row0 + o).intoArray(wf, at0 + kk);
            VectorLoads.f16(w, row1 + o).intoArray(wf, at1 + kk);
            VectorLoads.f16(w, row2 + o).intoArray(wf, at2 + kk);
            VectorLoads.f16(w, row3 + o).intoArray(wf, at3 + kk);
        }
    }

    private static void widenF32(MemorySegment w, long row0, long row1, long row2, long row3, float[] wf, int at0,
                                 int at1, int at2, int at3, int whole) {
        for (int kk = 0; kk < whole; kk += L) {
            long o = 4L * kk;
            VectorLoads.f32(w, row0 + o).intoArray(wf, at0 + kk);
            VectorLoads.f32(w, row1 + o).intoArray(wf, at1 + kk);
            VectorLoads.f32(w, row2 + o).intoArray(wf, at2 + kk);
            VectorLoads.f32(w, row3 + o).intoArray(wf, at3 + kk);
        }
    }

    /** Adds the bias and writes the sums of rows {@code r..r+11}, token by token. */
    private void store(float[] acc, int r) {
        int valid = Math.min(ROWS, n - r);
        // Token by token, so that each token's twelve sums go to neighbouring addresses.
        for (int t = 0; t < tokens; t++) {
            int at = (t / GROUP) * ROWS * GROUP + t % GROUP;
            long base = 4L * ((long) t * n + r);
            for (int j = 0; j < valid; j++) {
                float add = bias == null ? 0f : VectorLoads.scalar(biasType, bias, r + j);
                out.set(FLOAT, base + 4L * j, acc[at + j * GROUP] + add);
            }
        }
    }

    /**
     * Twelve rows against the 32 tokens of a group over steps {@code from..to} of the span:
     * {@code acc[at + 32·row + token] += Σ w·x}. The accumulators
     * pass through {@code acc}, not as vectors across a call, which C2 would box when it does not inline it.
     */
    static void kernel32(float[] xt, int xb, float[] wf, int from, int to, float[] acc, int at) {
        FloatVector a0 = FloatVector.fromArray(F, acc, at), b0 = FloatVector.fromArray(F, acc, at + L);
        FloatVector a1 = FloatVector.fromArray(F, acc, at + 2 * L), b1 = FloatVector.fromArray(F, acc, at + 3 * L);
        FloatVector a2 = FloatVector.fromArray(F, acc, at + 4 * L), b2 = FloatVector.fromArray(F, acc, at + 5 * L);
        FloatVector a3 = FloatVector.fromArray(F, acc, at + 6 * L), b3 = FloatVector.fromArray(F, acc, at + 7 * L);
        FloatVector a4 = FloatVector.fromArray(F, acc, at + 8 * L), b4 = FloatVector.fromArray(F, acc, at + 9 * L);
        FloatVector a5 = FloatVector.fromArray(F, acc, at + 10 * L), b5 = FloatVector.fromArray(F, acc, at + 11 * L);
        FloatVector a6 = FloatVector.fromArray(F, acc, at + 12 * L), b6 = FloatVector.fromArray(F, acc, at + 13 * L);
        FloatVector a7 = FloatVector.fromArray(F, acc, at + 14 * L), b7 = FloatVector.fromArray(F, acc, at + 15 * L);
        FloatVector a8 = FloatVector.fromArray(F, acc, at + 16 * L), b8 = FloatVector.fromArray(F, acc, at + 17 * L);
        FloatVector a9 = FloatVector.fromArray(F, acc, at + 18 * L), b9 = FloatVector.fromArray(F, acc, at + 19 * L);
        FloatVector a10 = FloatVector.fromArray(F, acc, at + 20 * L), b10 = FloatVector.fromArray(F, acc, at + 21 * L);
        FloatVector a11 = FloatVector.fromArray(F, acc, at + 22 * L), b11 = FloatVector.fromArray(F, acc, at + 23 * L);
        for (int kk = from; kk < to; kk++) {
            int xi = xb + kk * GROUP;
            FloatVector x0 = FloatVector.fromArray(F, xt, xi);
            FloatVector x1 = FloatVector.fromArray(F, xt, xi + L);
            FloatVector v = FloatVector.broadcast(F, wf[kk]);
            a0 = x0.fma(v, a0);
            b0 = x1.fma(v, b0);
            v = FloatVector.broadcast(F, wf[PITCH + kk]);
            a1 = x0.fma(v, a1);
            b1 = x1.fma(v, b1);
            v = FloatVector.broadcast(F, wf[2 * PITCH + kk]);
            a2 = x0.fma(v, a2);
            b2 = x1.fma(v, b2);
            v = FloatVector.broadcast(F, wf[3 * PITCH + kk]);
            a3 = x0.fma(v, a3);
            b3 = x1.fma(v, b3);
            v = FloatVector.broadcast(F, wf[4 * PITCH + kk]);
            a4 = x0.fma(v, a4);
            b4 = x1.fma(v, b4);
            v = FloatVector.broadcast(F, wf[5 * PITCH + kk]);
            a5 = x0.fma(v, a5);
            b5 = x1.fma(v, b5);
            v = FloatVector.broadcast(F, wf[6 * PITCH + kk]);
            a6 = x0.fma(v, a6);
            b6 = x1.fma(v, b6);
            v = FloatVector.broadcast(F, wf[7 * PITCH + kk]);
            a7 = x0.fma(v, a7);
            b7 = x1.fma(v, b7);
            v = FloatVector.broadcast(F, wf[8 * PITCH + kk]);
            a8 = x0.fma(v, a8);
            b8 = x1.fma(v, b8);
            v = FloatVector.broadcast(F, wf[9 * PITCH + kk]);
            a9 = x0.fma(v, a9);
            b9 = x1.fma(v, b9);
            v = FloatVector.broadcast(F, wf[10 * PITCH + kk]);
            a10 = x0.fma(v, a10);
            b10 = x1.fma(v, b10);
            v = FloatVector.broadcast(F, wf[11 * PITCH + kk]);
            a11 = x0.fma(v, a11);
            b11 = x1.fma(v, b11);
        }
        a0.intoArray(acc, at);
        b0.intoArray(acc, at + L);
        a1.intoArray(acc, at + 2 * L);
        b1.intoArray(acc, at + 3 * L);
        a2.intoArray(acc, at + 4 * L);
        b2.intoArray(acc, at + 5 * L);
        a3.intoArray(acc, at + 6 * L);
        b3.intoArray(acc, at + 7 * L);
        a4.intoArray(acc, at + 8 * L);
        b4.intoArray(acc, at + 9 * L);
        a5.intoArray(acc, at + 10 * L);
        b5.intoArray(acc, at + 11 * L);
        a6.intoArray(acc, at + 12 * L);
        b6.intoArray(acc, at + 13 * L);
        a7.intoArray(acc, at + 14 * L);
        b7.intoArray(acc, at + 15 * L);
        a8.intoArray(acc, at + 16 * L);
        b8.intoArray(acc, at + 17 * L);
        a9.intoArray(acc, at + 18 * L);
        b9.intoArray(acc, at + 19 * L);
        a10.intoArray(acc, at + 20 * L);
        b10.intoArray(acc, at + 21 * L);
        a11.intoArray(acc, at + 22 * L);
        b11.intoArray(acc, at + 23 * L);
    }

    /** As {@link #kernel32} for a group's first 16 tokens only (the last group, when 16 or fewer are left). */
    static void kernel16(float[] xt, int xb, float[] wf, int from, int to, float[] acc, int at) {
        FloatVector a0 = FloatVector.fromArray(F, acc, at), a1 = FloatVector.fromArray(F, acc, at + 2 * L);
        FloatVector a2 = FloatVector.fromArray(F, acc, at + 4 * L), a3 = FloatVector.fromArray(F, acc, at + 6 * L);
        FloatVector a4 = FloatVector.fromArray(F, acc, at + 8 * L), a5 = FloatVector.fromArray(F, acc, at + 10 * L);
        FloatVector a6 = FloatVector.fromArray(F, acc, at + 12 * L), a7 = FloatVector.fromArray(F, acc, at + 14 * L);
        FloatVector a8 = FloatVector.fromArray(F, acc, at + 16 * L), a9 = FloatVector.fromArray(F, acc, at + 18 * L);
        FloatVector a10 = FloatVector.fromArray(F, acc, at + 20 * L);
        FloatVector a11 = FloatVector.fromArray(F, acc, at + 22 * L);
        for (int kk = from; kk < to; kk++) {
            FloatVector x0 = FloatVector.fromArray(F, xt, xb + kk * GROUP);
            a0 = x0.fma(FloatVector.broadcast(F, wf[kk]), a0);
            a1 = x0.fma(FloatVector.broadcast(F, wf[PITCH + kk]), a1);
            a2 = x0.fma(FloatVector.broadcast(F, wf[2 * PITCH + kk]), a2);
            a3 = x0.fma(FloatVector.broadcast(F, wf[3 * PITCH + kk]), a3);
            a4 = x0.fma(FloatVector.broadcast(F, wf[4 * PITCH + kk]), a4);
            a5 = x0.fma(FloatVector.broadcast(F, wf[5 * PITCH + kk]), a5);
            a6 = x0.fma(FloatVector.broadcast(F, wf[6 * PITCH + kk]), a6);
            a7 = x0.fma(FloatVector.broadcast(F, wf[7 * PITCH + kk]), a7);
            a8 = x0.fma(FloatVector.broadcast(F, wf[8 * PITCH + kk]), a8);
            a9 = x0.fma(FloatVector.broadcast(F, wf[9 * PITCH + kk]), a9);
            a10 = x0.fma(FloatVector.broadcast(F, wf[10 * PITCH + kk]), a10);
            a11 = x0.fma(FloatVector.broadcast(F, wf[11 * PITCH + kk]), a11);
        }
        a0.intoArray(acc, at);
        a1.intoArray(acc, at + 2 * L);
        a2.intoArray(acc, at + 4 * L);
        a3.intoArray(acc, at + 6 * L);
        a4.intoArray(acc, at + 8 * L);
        a5.intoArray(acc, at + 10 * L);
        a6.intoArray(acc, at + 12 * L);
        a7.intoArray(acc, at + 14 * L);
        a8.intoArray(acc, at + 16 * L);
        a9.intoArray(acc, at + 18 * L);
        a10.intoArray(acc, at + 20 * L);
        a11.intoArray(acc, at + 22 * L);
    }

    /**
     * {@code xt[(g·k + kk)·32 + lane] = x[32g + lane][kk]}: blocks of 16 tokens × 16 elements go through a
     * 16 × 16 transposition in registers; tokens past the last repeat it (their sums are never stored).
     */
    static void transposeTokens(MemorySegment x, int tokens, int k, float[] xt, int[] tmp) {
        long rowBytes = 4L * k;
        int whole = k - k % L;
        int last = tokens - 1;
        for (int t0 = 0; t0 < tokens; t0 += L) {
            int dst = (t0 / GROUP) * k * GROUP + t0 % GROUP;
            int rows = Math.min(L, tokens - t0);
            for (int kk = 0; kk < whole; kk += L) {
                firstStages(x, rowBytes * t0, rowBytes, rows, 4L * kk, tmp);
                lastStages(tmp, xt, dst + kk * GROUP);
            }
            for (int kk = whole; kk < k; kk++) {
                for (int j = 0; j < L; j++) {
                    xt[dst + kk * GROUP + j] = x.get(FLOAT, rowBytes * Math.min(t0 + j, last) + 4L * kk);
                }
            }
        }
    }

    /**
     * The 16 × 16 transposition swaps the four bits of a row index with those of a lane index, one bit per
     * stage. In stage s, rows {@code a} and {@code b = a + 2^s} become, lane by lane ({@code c} the lane):
     * {@code a'[c] = c_s == 0 ? a[c] : b[c − 2^s]} and {@code b'[c] = c_s == 0 ? a[c + 2^s] : b[c]}; as indices
     * of a two-source permute (16 and up select from b) those are the two tables of the stage.
     */
    private static int[] transposeIndices() {
        int stages = Integer.numberOfTrailingZeros(L);
        int[] t = new int[stages * 2 * L];
        for (int s = 0; s < stages; s++) {
            int bit = 1 << s;
            for (int c = 0; c < L; c++) {
                t[(2 * s) * L + c] = (c & bit) == 0 ? c : L + c - bit;
                t[(2 * s + 1) * L + c] = (c & bit) == 0 ? c + bit : L + c;
            }
        }
        return t;
    }

    /*
     * The transposition is split in two methods of two stages each: as one method C2 stops inlining the vector
     * operations of its second half (node count cut-off) and boxes them, ten times slower.
     */

    /**
     * Loads 16 rows (the first {@code rows} real, the others repeating the last) and applies stages 0 and 1. The
     * activations are loaded as floats and reinterpreted: IntVector's segment loads are the weight loads of the
     * BF16 and Q8 dot-product kernels, and C2 compiles a Vector API method inlined anywhere with the one type
     * profile all its callers share; loading native activations through it as well made the decode kernels
     * compiled afterwards 12–15% slower.
     */
    private static void firstStages(MemorySegment x, long first, long rowBytes, int rows, long kb, int[] tmp) {
        int[] t = TRANSPOSE;
        IntVector s00 = IntVector.fromArray(I, t, 0), s01 = IntVector.fromArray(I, t, L);
        IntVector s10 = IntVector.fromArray(I, t, 2 * L), s11 = IntVector.fromArray(I, t, 3 * L);
        int last = rows - 1;
        for (int q = 0; q < L; q += 4) {
            IntVector v0 = FloatVector.fromMemorySegment(F, x, first + rowBytes * Math.min(q, last) + kb, LE)
                    .reinterpretAsInts();
            IntVector v1 = FloatVector.fromMemorySegment(F, x, first + rowBytes * Math.min(q + 1, last) + kb, LE)
                    .reinterpretAsInts();
            IntVector v2 = FloatVector.fromMemorySegment(F, x, first + rowBytes * Math.min(q + 2, last) + kb, LE)
                    .reinterpretAsInts();
            IntVector v3 = FloatVector.fromMemorySegment(F, x, first + rowBytes * Math.min(q + 3, last) + kb, LE)
                    .reinterpretAsInts();
            IntVector t0 = s00.selectFrom(v0, v1), t1 = s01.selectFrom(v0, v1);
            IntVector t2 = s00.selectFrom(v2, v3), t3 = s01.selectFrom(v2, v3);
            s10.selectFrom(t0, t2).intoArray(tmp, q * L);
            s10.selectFrom(t1, t3).intoArray(tmp, (q + 1) * L);
            s11.selectFrom(t0, t2).intoArray(tmp, (q + 2) * L);
            s11.selectFrom(t1, t3).intoArray(tmp, (q + 3) * L);
        }
    }

    /** Stages 2 and 3; vector m then holds element m of the 16 rows, stored at {@code dst + 32m}. */
    private static void lastStages(int[] tmp, float[] xt, int dst) {
        int[] t = TRANSPOSE;
        IntVector s20 = IntVector.fromArray(I, t, 4 * L), s21 = IntVector.fromArray(I, t, 5 * L);
        IntVector s30 = IntVector.fromArray(I, t, 6 * L), s31 = IntVector.fromArray(I, t, 7 * L);
        for (int q = 0; q < 4; q++) {
            IntVector v0 = IntVector.fromArray(I, tmp, q * L);
            IntVector v4 = IntVector.fromArray(I, tmp, (q + 4) * L);
            IntVector v8 = IntVector.fromArray(I, tmp, (q + 8) * L);
            IntVector v12 = IntVector.fromArray(I, tmp, (q + 12) * L);
            IntVector t0 = s20.selectFrom(v0, v4), t4 = s21.selectFrom(v0, v4);
            IntVector t8 = s20.selectFrom(v8, v12), t12 = s21.selectFrom(v8, v12);
            s30.selectFrom(t0, t8).reinterpretAsFloats().intoArray(xt, dst + q * GROUP);
            s31.selectFrom(t0, t8).reinterpretAsFloats().intoArray(xt, dst + (q + 8) * GROUP);
            s30.selectFrom(t4, t12).reinterpretAsFloats().intoArray(xt, dst + (q + 4) * GROUP);
            s31.selectFrom(t4, t12).reinterpretAsFloats().intoArray(xt, dst + (q + 12) * GROUP);
        }
    }
}

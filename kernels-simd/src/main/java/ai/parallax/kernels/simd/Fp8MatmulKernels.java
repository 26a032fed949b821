package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.I;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;
import static ai.parallax.kernels.simd.VectorLoads.SHORT;

import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
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
 * {@code out = x · Wᵀ} for FP8 weights (F8_E4M3 or F8_E5M2) with optional {@link BlockScales}: each weight byte is
 * decoded to float in vector registers, multiplied by the scale of its {@code [blockRows, blockCols]} block and
 * consumed by the dot product. No dequantised copy of the weight exists at any time.
 *
 * <p>Decoding without a table: both formats are a sign, an exponent and a mantissa whose bits, shifted so that the
 * mantissa lines up with the top of float's 23-bit mantissa, form a float that is off only by its exponent bias. One
 * multiplication by {@code 2^(127 - bias)} re-biases it; that product is exact and also turns the formats'
 * subnormals (which land as float subnormals) into the right normal floats, the trick {@link VectorLoads#f16} uses.
 * The codes with an all-ones top (E4M3's NaN; E5M2's infinities and NaNs) are the only ones whose re-biased value
 * exceeds the format's largest finite magnitude, so one comparison finds them and forces float's exponent to all
 * ones. Loop tails decode through a 256-entry table built from {@link FloatFormats}, the reference definition.
 *
 * <p>Blocks of four weight rows are split over threads, as in {@link MatmulKernels}; inside a kernel the columns
 * run block by block so that each row's scale is read once per block of columns. Edge blocks may be partial.
 */
final class Fp8MatmulKernels {
    /** As many byte lanes as {@link VectorLoads#F} has float lanes, but at least the smallest (64-bit) shape. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class,
            VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 4)));
    private static final int BL = B.length();

    /** How one FP8 format decodes; see the class comment. */
    enum Format {
        // E4M3: 3 mantissa bits, bias 7. 0x7F (S.1111.111) re-biases to 480, above the largest finite 448.
        E4M3(20, 0x1p120f, 480f, FloatFormats::f8e4m3ToFloat),
        // E5M2: 2 mantissa bits, bias 15. 0x7C (S.11111.00, infinity) re-biases to 65536, above 57344.
        E5M2(21, 0x1p112f, 65536f, FloatFormats::f8e5m2ToFloat);

        final int shift;
        final float rebias;
        final float firstSpecial;
        /** Every code's value, for loop tails and for reference. */
        final float[] table = new float[256];

        Format(int shift, float rebias, float firstSpecial, ByteDecoder decoder) {
            this.shift = shift;
            this.rebias = rebias;
            this.firstSpecial = firstSpecial;
            for (int code = 0; code < 256; code++) {
                table[code] = decoder.decode((byte) code);
            }
        }

        static Format of(DType dtype) {
            return switch (dtype) {
                case F8_E4M3 -> E4M3;
                case F8_E5M2 -> E5M2;
                default -> throw new IllegalArgumentException("not an FP8 dtype: " + dtype);
            };
        }
    }

    @FunctionalInterface
    private interface ByteDecoder {
        float decode(byte code);
    }

    private Fp8MatmulKernels() {
    }

    static boolean isFp8(DType dtype) {
        return dtype == DType.F8_E4M3 || dtype == DType.F8_E5M2;
    }

    /**
     * Decodes {@code L} FP8 codes at {@code offset} and multiplies them by {@code scale}; exposed for tests. In
     * the kernels the same lines are spelled out, for the reason {@link MatmulKernels} gives.
     */
    static FloatVector decode(MemorySegment w, long offset, Format f, float scale) {
        IntVector codes = (IntVector) ByteVector.fromMemorySegment(B, w, offset, LE)
                .convertShape(VectorOperators.B2I, I, 0);
        IntVector bits = codes.lanewise(VectorOperators.LSHL, f.shift).and(0x8000_0000 | (0x7F << f.shift));
        FloatVector value = bits.reinterpretAsFloats().mul(f.rebias);
        VectorMask<Float> special = value.abs().compare(VectorOperators.GE, f.firstSpecial);
        return value.blend(bits.or(0x7F80_0000).reinterpretAsFloats(), special).mul(scale);
    }

    /** One token against four weight rows; {@code sr*} are the element offsets of the rows' scale rows. */
    static void rows4(MemorySegment x, long xr, MemorySegment w, long w0, long w1, long w2, long w3, int k,
                      Format f, Scales sc, long sr0, long sr1, long sr2, long sr3, float[] sums) {
        int shift = f.shift;
        int bitMask = 0x8000_0000 | (0x7F << shift);
        float rebias = f.rebias;
        float firstSpecial = f.firstSpecial;
        float[] table = f.table;
        int bc = sc.blockCols;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (int c0 = 0, block = 0; c0 < k; c0 += bc, block++) {
            int c1 = Math.min(k, c0 + bc);
            float q0 = sc.at(sr0 + block);
            float q1 = sc.at(sr1 + block);
            float q2 = sc.at(sr2 + block);
            float q3 = sc.at(sr3 + block);
            int i = c0;
            for (; i + BL <= c1 && i + L <= c1; i += L) {
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xr + 4L * i, LE);
                IntVector b0 = ((IntVector) ByteVector.fromMemorySegment(B, w, w0 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v0 = b0.reinterpretAsFloats().mul(rebias);
                v0 = v0.blend(b0.or(0x7F80_0000).reinterpretAsFloats(),
                        v0.abs().compare(VectorOperators.GE, firstSpecial));
                IntVector b1 = ((IntVector) ByteVector.fromMemorySegment(B, w, w1 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v1 = b1.reinterpretAsFloats().mul(rebias);
                v1 = v1.blend(b1.or(0x7F80_0000).reinterpretAsFloats(),
                        v1.abs().compare(VectorOperators.GE, firstSpecial));
                IntVector b2 = ((IntVector) ByteVector.fromMemorySegment(B, w, w2 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v2 = b2.reinterpretAsFloats().mul(rebias);
                v2 = v2.blend(b2.or(0x7F80_0000).reinterpretAsFloats(),
                        v2.abs().compare(VectorOperators.GE, firstSpecial));
                IntVector b3 = ((IntVector) ByteVector.fromMemorySegment(B, w, w3 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v3 = b3.reinterpretAsFloats().mul(rebias);
                v3 = v3.blend(b3.or(0x7F80_0000).reinterpretAsFloats(),
                        v3.abs().compare(VectorOperators.GE, firstSpecial));
                a0 = v0.mul(q0).fma(xv, a0);
                a1 = v1.mul(q1).fma(xv, a1);
                a2 = v2.mul(q2).fma(xv, a2);
                a3 = v3.mul(q3).fma(xv, a3);
            }
            for (; i < c1; i++) {
                float xs = x.get(FLOAT, xr + 4L * i);
                t0 += xs * (table[w.get(ValueLayout.JAVA_BYTE, w0 + i) & 0xFF] * q0);
                t1 += xs * (table[w.get(ValueLayout.JAVA_BYTE, w1 + i) & 0xFF] * q1);
                t2 += xs * (table[w.get(ValueLayout.JAVA_BYTE, w2 + i) & 0xFF] * q2);
                t3 += xs * (table[w.get(ValueLayout.JAVA_BYTE, w3 + i) & 0xFF] * q3);
            }
        }
        sums[0] = sumLanes(a0, sums) + t0;
        sums[1] = sumLanes(a1, sums) + t1;
        sums[2] = sumLanes(a2, sums) + t2;
        sums[3] = sumLanes(a3, sums) + t3;
    }

    /** Four tokens against four weight rows, {@code sums[4·token + row]}: each decoded vector serves four tokens. */
    static void tile4x4(MemorySegment x, long x0, long x1, long x2, long x3,
                        MemorySegment w, long w0, long w1, long w2, long w3, int k,
                        Format f, Scales sc, long sr0, long sr1, long sr2, long sr3, float[] sums) {
        int shift = f.shift;
        int bitMask = 0x8000_0000 | (0x7F << shift);
        float rebias = f.rebias;
        float firstSpecial = f.firstSpecial;
        float[] table = f.table;
        int bc = sc.blockCols;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        java.util.Arrays.fill(sums, 0, 16, 0f);
        for (int c0 = 0, block = 0; c0 < k; c0 += bc, block++) {
            int c1 = Math.min(k, c0 + bc);
            float q0 = sc.at(sr0 + block);
            float q1 = sc.at(sr1 + block);
            float q2 = sc.at(sr2 + block);
            float q3 = sc.at(sr3 + block);
            int i = c0;
            for (; i + BL <= c1 && i + L <= c1; i += L) {
                IntVector b0 = ((IntVector) ByteVector.fromMemorySegment(B, w, w0 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v0 = b0.reinterpretAsFloats().mul(rebias);
                v0 = v0.blend(b0.or(0x7F80_0000).reinterpretAsFloats(),
                        v0.abs().compare(VectorOperators.GE, firstSpecial)).mul(q0);
                IntVector b1 = ((IntVector) ByteVector.fromMemorySegment(B, w, w1 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v1 = b1.reinterpretAsFloats().mul(rebias);
                v1 = v1.blend(b1.or(0x7F80_0000).reinterpretAsFloats(),
                        v1.abs().compare(VectorOperators.GE, firstSpecial)).mul(q1);
                IntVector b2 = ((IntVector) ByteVector.fromMemorySegment(B, w, w2 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v2 = b2.reinterpretAsFloats().mul(rebias);
                v2 = v2.blend(b2.or(0x7F80_0000).reinterpretAsFloats(),
                        v2.abs().compare(VectorOperators.GE, firstSpecial)).mul(q2);
                IntVector b3 = ((IntVector) ByteVector.fromMemorySegment(B, w, w3 + i, LE)
                        .convertShape(VectorOperators.B2I, I, 0)).lanewise(VectorOperators.LSHL, shift).and(bitMask);
                FloatVector v3 = b3.reinterpretAsFloats().mul(rebias);
                v3 = v3.blend(b3.or(0x7F80_0000).reinterpretAsFloats(),
                        v3.abs().compare(VectorOperators.GE, firstSpecial)).mul(q3);
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
            for (; i < c1; i++) {
                float v0 = table[w.get(ValueLayout.JAVA_BYTE, w0 + i) & 0xFF] * q0;
                float v1 = table[w.get(ValueLayout.JAVA_BYTE, w1 + i) & 0xFF] * q1;
                float v2 = table[w.get(ValueLayout.JAVA_BYTE, w2 + i) & 0xFF] * q2;
                float v3 = table[w.get(ValueLayout.JAVA_BYTE, w3 + i) & 0xFF] * q3;
                long xi = 4L * i;
                tailRow(sums, 0, x.get(FLOAT, x0 + xi), v0, v1, v2, v3);
                tailRow(sums, 4, x.get(FLOAT, x1 + xi), v0, v1, v2, v3);
                tailRow(sums, 8, x.get(FLOAT, x2 + xi), v0, v1, v2, v3);
                tailRow(sums, 12, x.get(FLOAT, x3 + xi), v0, v1, v2, v3);
            }
        }
        sums[0] += sumLanes(a00, sums);
        sums[1] += sumLanes(a01, sums);
        sums[2] += sumLanes(a02, sums);
        sums[3] += sumLanes(a03, sums);
        sums[4] += sumLanes(a10, sums);
        sums[5] += sumLanes(a11, sums);
        sums[6] += sumLanes(a12, sums);
        sums[7] += sumLanes(a13, sums);
        sums[8] += sumLanes(a20, sums);
        sums[9] += sumLanes(a21, sums);
        sums[10] += sumLanes(a22, sums);
        sums[11] += sumLanes(a23, sums);
        sums[12] += sumLanes(a30, sums);
        sums[13] += sumLanes(a31, sums);
        sums[14] += sumLanes(a32, sums);
        sums[15] += sumLanes(a33, sums);
    }

    /**
     * The lanes of v summed in lane order. {@code reduceLanes} may add them in another order in compiled code than
     * in the interpreter's fallback, which made the same matmul differ in the last bit depending on JIT warm-up;
     * a fixed order keeps results reproducible (a split model then matches the whole model bit for bit).
     */
    private static float sumLanes(FloatVector v, float[] sums) {
        v.intoArray(sums, 16);
        float s = 0;
        for (int i = 16; i < 16 + L; i++) {
            s += sums[i];
        }
        return s;
    }

    private static void tailRow(float[] sums, int at, float xs, float v0, float v1, float v2, float v3) {
        sums[at] += xs * v0;
        sums[at + 1] += xs * v1;
        sums[at + 2] += xs * v2;
        sums[at + 3] += xs * v3;
    }

    /**
     * The scales of one weight, read as floats: F32 or BF16 elements, {@code cols} per block row. A weight without
     * scales reads as one block of scale 1.
     */
    static final class Scales {
        private static final MemorySegment ONE = MemorySegment.ofArray(new float[] {1f});

        MemorySegment data;
        boolean bf16;
        long cols;
        int blockRows;
        int blockCols;

        void set(BlockScales scales, int n, int k) {
            if (scales == null) {
                data = ONE;
                bf16 = false;
                cols = 1;
                blockRows = Math.max(1, n);
                blockCols = Math.max(1, k);
            } else {
                data = scales.scales().data();
                bf16 = scales.scales().dtype() == DType.BF16;
                cols = scales.scales().rowLength();
                blockRows = scales.blockRows();
                blockCols = scales.blockCols();
            }
        }

        /** Element offset of the scale row that weight row {@code row} uses. */
        long rowOffset(int row) {
            return row / blockRows * cols;
        }

        float at(long index) {
            return bf16 ? VectorLoads.bf16ToFloat(data.get(SHORT, 2 * index)) : data.get(FLOAT, 4 * index);
        }

        void clear() {
            data = null;
        }
    }

    /** {@code out = x · Wᵀ (+ bias)} for an FP8 weight, split over blocks of four weight rows. */
    static final class Task implements WorkerPool.ParallelTask {
        private final float[][] sums;
        private final Scales scales = new Scales();
        private MemorySegment x;
        private MemorySegment w;
        private Format format;
        private MemorySegment bias;
        private DType biasType;
        private MemorySegment out;
        private int tokens;
        private int n;
        private int k;

        Task(int threads) {
            sums = new float[threads][16 + L];
        }

        void set(MemorySegment x, MemorySegment w, DType wType, BlockScales blockScales, MemorySegment bias,
                 DType biasType, MemorySegment out, int tokens, int n, int k) {
            this.x = x;
            this.w = w;
            this.format = Format.of(wType);
            this.scales.set(blockScales, n, k);
            this.bias = bias;
            this.biasType = biasType;
            this.out = out;
            this.tokens = tokens;
            this.n = n;
            this.k = k;
        }

        void clear() {
            x = null;
            w = null;
            bias = null;
            out = null;
            scales.clear();
        }

        @Override
        public void run(int part, int parts) {
            int blocks = (n + 3) / 4;
            int from = SimdOps.split(blocks, part, parts);
            int to = SimdOps.split(blocks, part + 1, parts);
            float[] s = sums[part];
            long rowBytes = k;
            long xRowBytes = 4L * k;
            int last = n - 1;
            Scales sc = scales;
            for (int b = from; b < to; b++) {
                int r = 4 * b;
                int valid = Math.min(4, n - r);
                int r1 = Math.min(r + 1, last);
                int r2 = Math.min(r + 2, last);
                int r3 = Math.min(r + 3, last);
                long w0 = rowBytes * r;
                long w1 = rowBytes * r1;
                long w2 = rowBytes * r2;
                long w3 = rowBytes * r3;
                long sr0 = sc.rowOffset(r);
                long sr1 = sc.rowOffset(r1);
                long sr2 = sc.rowOffset(r2);
                long sr3 = sc.rowOffset(r3);
                int t = 0;
                while (t < tokens) {
                    int remaining = tokens - t;
                    if (remaining == 1) {
                        rows4(x, xRowBytes * t, w, w0, w1, w2, w3, k, format, sc, sr0, sr1, sr2, sr3, s);
                        store(s, 0, t, r, valid);
                        t += 1;
                    } else {
                        int lastToken = tokens - 1;
                        tile4x4(x, xRowBytes * t, xRowBytes * Math.min(t + 1, lastToken),
                                xRowBytes * Math.min(t + 2, lastToken), xRowBytes * Math.min(t + 3, lastToken),
                                w, w0, w1, w2, w3, k, format, sc, sr0, sr1, sr2, sr3, s);
                        int validTokens = Math.min(4, remaining);
                        for (int i = 0; i < validTokens; i++) {
                            store(s, 4 * i, t + i, r, valid);
                        }
                        t += 4;
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
    }
}

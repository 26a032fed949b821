package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.I;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.LE;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Mxfp4;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out = x · Wᵀ (+ bias)} for an MXFP4 weight ({@link Mxfp4}), decoding the 4-bit codes inside the dot
 * product. The weight stays packed (half a byte per element plus a byte per 32): nothing is expanded.
 *
 * <p>How a block of 32 is decoded in vector registers: its 16 bytes are widened to int lanes; the low nibbles are the
 * even elements and the high nibbles the odd ones. A nibble's low three bits index a table of the eight E2M1
 * magnitudes (a lane shuffle), and its top bit is moved into the float's sign bit; with 16 float lanes the table
 * holds all 16 signed values and one shuffle decodes a code. So that these two half-blocks
 * meet matching inputs without an interleaving shuffle, each input row is first reordered, per block, into its 16
 * even elements followed by its 16 odd ones (once per call, on the calling thread). The block's sum is multiplied by
 * its power-of-two scale once.
 *
 * <p>Work is split over weight rows. Four input rows share each decoded block, so a prefill decodes each weight block
 * once per four tokens. Vector widths other than 8 or 16 float lanes take a scalar path with the same arithmetic.
 */
final class Mxfp4MatmulKernels {
    private Mxfp4MatmulKernels() {
    }

    /** Whether the vector path applies: one half-block (16 codes) is a whole number of vectors. */
    static final boolean VECTORISED = L == 8 || L == 16;
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, L * 8)));
    /** The E2M1 magnitudes by the low three bits of a code, repeated to fill a vector. */
    private static final float[] MAGNITUDES = new float[Math.max(L, 8)];
    private static final float[] E2M1 = Mxfp4.e2m1Table();
    /** Every E8M0 byte's value, so a block's scale is one table read. */
    private static final float[] SCALES = new float[256];

    static {
        for (int i = 0; i < MAGNITUDES.length; i++) {
            MAGNITUDES[i] = Mxfp4.e2m1(i & 7);
        }
        for (int s = 0; s < 256; s++) {
            SCALES[s] = Mxfp4.e8m0(s);
        }
    }

    static final class Task implements WorkerPool.ParallelTask {
        private final IntVector magnitudeBits = VECTORISED
                ? FloatVector.fromArray(F, MAGNITUDES, 0).reinterpretAsInts() : null;
        /** The 16 signed values, when 16 lanes hold them (else null: magnitude table and sign bit). */
        private final IntVector valueBits;
        private final float[][] laneScratch;
        private float[] reordered = new float[0];
        private MemorySegment blocks;
        private MemorySegment scales;
        private MemorySegment bias;
        private DType biasType;
        private MemorySegment out;
        private int tokens;
        private int n;
        private int k;

        /**
         * Prepares a product: x {@code [tokens, k]} F32 is reordered now, into a buffer reused across calls (it
         * grows only when a larger batch arrives).
         */
        Task(int threads) {
            this(threads, L == 16);
        }

        /** With {@code signedTable} false the magnitude-and-sign decode runs whatever the width (tests use it). */
        Task(int threads, boolean signedTable) {
            valueBits = signedTable ? FloatVector.fromArray(F, E2M1, 0).reinterpretAsInts() : null;
            laneScratch = new float[threads][];
            for (int i = 0; i < threads; i++) {
                laneScratch[i] = LaneSums.scratch();
            }
        }

        void set(MemorySegment x, MemorySegment blocks, MemorySegment scales, MemorySegment bias, DType biasType,
                 MemorySegment out, int tokens, int n, int k) {
            this.blocks = blocks;
            this.scales = scales;
            this.bias = bias;
            this.biasType = biasType;
            this.out = out;
            this.tokens = tokens;
            this.n = n;
            this.k = k;
            int length = Math.multiplyExact(tokens, k);
            if (reordered.length < length) {
                reordered = new float[length];
            }
            for (int t = 0; t < tokens; t++) {
                long row = 4L * t * k;
                for (int b = 0; b < k; b += Mxfp4.BLOCK) {
                    int at = t * k + b;
                    for (int j = 0; j < Mxfp4.BLOCK_BYTES; j++) {
                        reordered[at + j] = x.get(FLOAT, row + 4L * (b + 2 * j));
                        reordered[at + Mxfp4.BLOCK_BYTES + j] = x.get(FLOAT, row + 4L * (b + 2 * j + 1));
                    }
                }
            }
        }

        void clear() {
            blocks = null;
            scales = null;
            bias = null;
            out = null;
        }

        @Override
        public void run(int part, int parts) {
            int from = SimdOps.split(n, part, parts);
            int to = SimdOps.split(n, part + 1, parts);
            int tileEnd = tokens - tokens % 4;
            float[] lanes = laneScratch[part];
            for (int row = from; row < to; row++) {
                float add = bias == null ? 0f : VectorLoads.scalar(biasType, bias, row);
                int t = 0;
                if (VECTORISED) {
                    for (; t < tileEnd; t += 4) {
                        dotFour(row, t, add, lanes);
                    }
                    for (; t < tokens; t++) {
                        store(t, row, dotVector(row, t, lanes) + add);
                    }
                } else {
                    for (; t < tokens; t++) {
                        store(t, row, dotScalar(row, t) + add);
                    }
                }
            }
        }

        private void store(int token, int row, float value) {
            out.set(FLOAT, 4L * ((long) token * n + row), value);
        }

        /** The E2M1 values of {@code L} codes given as int lanes (sign in bit 3). */
        private FloatVector decode(IntVector codes) {
            if (valueBits != null) {
                // Sixteen lanes hold the whole signed table: one permute decodes the code.
                return codes.selectFrom(valueBits).reinterpretAsFloats();
            }
            IntVector magnitude = codes.lanewise(VectorOperators.AND, 7).selectFrom(magnitudeBits);
            IntVector sign = codes.lanewise(VectorOperators.AND, 8).lanewise(VectorOperators.LSHL, 28);
            return magnitude.lanewise(VectorOperators.XOR, sign).reinterpretAsFloats();
        }

        private IntVector codeBytes(long offset) {
            return (IntVector) ByteVector.fromMemorySegment(B, blocks, offset, LE).convertShape(VectorOperators.B2I, I, 0);
        }

        private float dotVector(int row, int token, float[] lanes) {
            long rowBytes = (long) row * (k / 2);
            long rowScales = (long) row * (k / Mxfp4.BLOCK);
            int xRow = token * k;
            FloatVector acc = FloatVector.zero(F);
            for (int b = 0; b < k / Mxfp4.BLOCK; b++) {
                FloatVector sum = FloatVector.zero(F);
                int xb = xRow + b * Mxfp4.BLOCK;
                for (int h = 0; h < Mxfp4.BLOCK_BYTES; h += L) {
                    IntVector codes = codeBytes(rowBytes + (long) b * Mxfp4.BLOCK_BYTES + h);
                    FloatVector even = decode(codes.lanewise(VectorOperators.AND, 0xF));
                    FloatVector odd = decode(codes.lanewise(VectorOperators.ASHR, 4).lanewise(VectorOperators.AND, 0xF));
                    sum = even.fma(FloatVector.fromArray(F, reordered, xb + h), sum);
                    sum = odd.fma(FloatVector.fromArray(F, reordered, xb + Mxfp4.BLOCK_BYTES + h), sum);
                }
                acc = sum.fma(FloatVector.broadcast(F, SCALES[Mxfp4.unsignedByte(scales, rowScales + b)]), acc);
            }
            return LaneSums.sum(acc, lanes);
        }

        /** Four input rows against one weight row: each block is decoded once for all four. */
        private void dotFour(int row, int token, float add, float[] lanes) {
            long rowBytes = (long) row * (k / 2);
            long rowScales = (long) row * (k / Mxfp4.BLOCK);
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            for (int b = 0; b < k / Mxfp4.BLOCK; b++) {
                FloatVector s0 = FloatVector.zero(F);
                FloatVector s1 = s0;
                FloatVector s2 = s0;
                FloatVector s3 = s0;
                int xb = token * k + b * Mxfp4.BLOCK;
                for (int h = 0; h < Mxfp4.BLOCK_BYTES; h += L) {
                    IntVector codes = codeBytes(rowBytes + (long) b * Mxfp4.BLOCK_BYTES + h);
                    FloatVector even = decode(codes.lanewise(VectorOperators.AND, 0xF));
                    FloatVector odd = decode(codes.lanewise(VectorOperators.ASHR, 4).lanewise(VectorOperators.AND, 0xF));
                    int e = xb + h;
                    int o = e + Mxfp4.BLOCK_BYTES;
                    s0 = odd.fma(FloatVector.fromArray(F, reordered, o), even.fma(FloatVector.fromArray(F, reordered, e), s0));
                    s1 = odd.fma(FloatVector.fromArray(F, reordered, o + k), even.fma(FloatVector.fromArray(F, reordered, e + k), s1));
                    s2 = odd.fma(FloatVector.fromArray(F, reordered, o + 2 * k), even.fma(FloatVector.fromArray(F, reordered, e + 2 * k), s2));
                    s3 = odd.fma(FloatVector.fromArray(F, reordered, o + 3 * k), even.fma(FloatVector.fromArray(F, reordered, e + 3 * k), s3));
                }
                FloatVector scale = FloatVector.broadcast(F, SCALES[Mxfp4.unsignedByte(scales, rowScales + b)]);
                a0 = s0.fma(scale, a0);
                a1 = s1.fma(scale, a1);
                a2 = s2.fma(scale, a2);
                a3 = s3.fma(scale, a3);
            }
            store(token, row, LaneSums.sum(a0, lanes) + add);
            store(token + 1, row, LaneSums.sum(a1, lanes) + add);
            store(token + 2, row, LaneSums.sum(a2, lanes) + add);
            store(token + 3, row, LaneSums.sum(a3, lanes) + add);
        }

        private float dotScalar(int row, int token) {
            long rowBytes = (long) row * (k / 2);
            long rowScales = (long) row * (k / Mxfp4.BLOCK);
            float acc = 0f;
            for (int b = 0; b < k / Mxfp4.BLOCK; b++) {
                float sum = 0f;
                int xb = token * k + b * Mxfp4.BLOCK;
                for (int j = 0; j < Mxfp4.BLOCK_BYTES; j++) {
                    int code = Mxfp4.unsignedByte(blocks, rowBytes + (long) b * Mxfp4.BLOCK_BYTES + j);
                    sum += E2M1[code & 0xF] * reordered[xb + j] + E2M1[code >>> 4] * reordered[xb + Mxfp4.BLOCK_BYTES + j];
                }
                acc += sum * SCALES[Mxfp4.unsignedByte(scales, rowScales + b)];
            }
            return acc;
        }
    }
}

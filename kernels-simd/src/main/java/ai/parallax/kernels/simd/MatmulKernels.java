package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.F;
import static ai.parallax.kernels.simd.VectorLoads.FLOAT;
import static ai.parallax.kernels.simd.VectorLoads.L;
import static ai.parallax.kernels.simd.VectorLoads.SHORT;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Register-blocked dot-product kernels for {@code out = x · Wᵀ}, one set per weight dtype. The sets differ only
 * in how a weight vector is loaded (and widened to float); they are written out once per dtype rather than
 * dispatched per load so that each inner loop is monomorphic and its vectors stay in registers.
 *
 * <p>All offsets are in bytes; x rows are F32. {@code k} is the reduction length. Elements past the last whole
 * vector are summed by a scalar tail. Results go to a small per-thread {@code sums} array:
 * <ul>
 *   <li>{@code rows4*}: one token against four weight rows, {@code sums[0..3]}. The four rows are independent
 *       accumulators, which hides the FMA latency, and each x vector is loaded once for four rows.</li>
 *   <li>{@code tile4x4*}: four tokens against four weight rows, {@code sums[4·token + row]}: each weight vector is
 *       loaded (and converted) once per four tokens and each x vector once per four rows, 16 FMAs per 8 loads.</li>
 * </ul>
 * Callers repeat a row or token offset to fill a block at the edges and ignore the duplicate sums.
 */
final class MatmulKernels {
    private MatmulKernels() {
    }

    static void rows4F32(MemorySegment x, long xr, MemorySegment w, long w0, long w1, long w2, long w3, int k,
                          float[] sums) {
        int vectorEnd = k - k % L;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xr + 4L * i, VectorLoads.LE);
            long wi = 4L * i;
            a0 = VectorLoads.f32(w, w0 + wi).fma(xv, a0);
            a1 = VectorLoads.f32(w, w1 + wi).fma(xv, a1);
            a2 = VectorLoads.f32(w, w2 + wi).fma(xv, a2);
            a3 = VectorLoads.f32(w, w3 + wi).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < k; i++) {
            float xs = x.get(FLOAT, xr + 4L * i);
            long wi = 4L * i;
            s0 += xs * f32At(w, w0 + wi);
            s1 += xs * f32At(w, w1 + wi);
            s2 += xs * f32At(w, w2 + wi);
            s3 += xs * f32At(w, w3 + wi);
        }
        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    static void tile4x4F32(MemorySegment x, long x0, long x1, long x2, long x3,
                             MemorySegment w, long w0, long w1, long w2, long w3, int k, float[] sums) {
        int vectorEnd = k - k % L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < vectorEnd; i += L) {
            long wi = 4L * i;
            FloatVector v0 = VectorLoads.f32(w, w0 + wi);
            FloatVector v1 = VectorLoads.f32(w, w1 + wi);
            FloatVector v2 = VectorLoads.f32(w, w2 + wi);
            FloatVector v3 = VectorLoads.f32(w, w3 + wi);
            long xi = 4L * i;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + xi, VectorLoads.LE);
            a00 = v0.fma(xv, a00);
            a01 = v1.fma(xv, a01);
            a02 = v2.fma(xv, a02);
            a03 = v3.fma(xv, a03);
            xv = FloatVector.fromMemorySegment(F, x, x1 + xi, VectorLoads.LE);
            a10 = v0.fma(xv, a10);
            a11 = v1.fma(xv, a11);
            a12 = v2.fma(xv, a12);
            a13 = v3.fma(xv, a13);
            xv = FloatVector.fromMemorySegment(F, x, x2 + xi, VectorLoads.LE);
            a20 = v0.fma(xv, a20);
            a21 = v1.fma(xv, a21);
            a22 = v2.fma(xv, a22);
            a23 = v3.fma(xv, a23);
            xv = FloatVector.fromMemorySegment(F, x, x3 + xi, VectorLoads.LE);
            a30 = v0.fma(xv, a30);
            a31 = v1.fma(xv, a31);
            a32 = v2.fma(xv, a32);
            a33 = v3.fma(xv, a33);
        }
        sums[0] = a00.reduceLanes(VectorOperators.ADD);
        sums[1] = a01.reduceLanes(VectorOperators.ADD);
        sums[2] = a02.reduceLanes(VectorOperators.ADD);
        sums[3] = a03.reduceLanes(VectorOperators.ADD);
        sums[4] = a10.reduceLanes(VectorOperators.ADD);
        sums[5] = a11.reduceLanes(VectorOperators.ADD);
        sums[6] = a12.reduceLanes(VectorOperators.ADD);
        sums[7] = a13.reduceLanes(VectorOperators.ADD);
        sums[8] = a20.reduceLanes(VectorOperators.ADD);
        sums[9] = a21.reduceLanes(VectorOperators.ADD);
        sums[10] = a22.reduceLanes(VectorOperators.ADD);
        sums[11] = a23.reduceLanes(VectorOperators.ADD);
        sums[12] = a30.reduceLanes(VectorOperators.ADD);
        sums[13] = a31.reduceLanes(VectorOperators.ADD);
        sums[14] = a32.reduceLanes(VectorOperators.ADD);
        sums[15] = a33.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < k; i++) {
            long wi = 4L * i;
            float v0 = f32At(w, w0 + wi);
            float v1 = f32At(w, w1 + wi);
            float v2 = f32At(w, w2 + wi);
            float v3 = f32At(w, w3 + wi);
            long xi = 4L * i;
            tailRow(sums, 0, x.get(FLOAT, x0 + xi), v0, v1, v2, v3);
            tailRow(sums, 4, x.get(FLOAT, x1 + xi), v0, v1, v2, v3);
            tailRow(sums, 8, x.get(FLOAT, x2 + xi), v0, v1, v2, v3);
            tailRow(sums, 12, x.get(FLOAT, x3 + xi), v0, v1, v2, v3);
        }
    }

    static void rows4Bf16(MemorySegment x, long xr, MemorySegment w, long w0, long w1, long w2, long w3, int k,
                          float[] sums) {
        int vectorEnd = k - k % L;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xr + 4L * i, VectorLoads.LE);
            long wi = 2L * i;
            a0 = VectorLoads.bf16(w, w0 + wi).fma(xv, a0);
            a1 = VectorLoads.bf16(w, w1 + wi).fma(xv, a1);
            a2 = VectorLoads.bf16(w, w2 + wi).fma(xv, a2);
            a3 = VectorLoads.bf16(w, w3 + wi).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < k; i++) {
            float xs = x.get(FLOAT, xr + 4L * i);
            long wi = 2L * i;
            s0 += xs * bf16At(w, w0 + wi);
            s1 += xs * bf16At(w, w1 + wi);
            s2 += xs * bf16At(w, w2 + wi);
            s3 += xs * bf16At(w, w3 + wi);
        }
        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    static void tile4x4Bf16(MemorySegment x, long x0, long x1, long x2, long x3,
                             MemorySegment w, long w0, long w1, long w2, long w3, int k, float[] sums) {
        int vectorEnd = k - k % L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < vectorEnd; i += L) {
            long wi = 2L * i;
            FloatVector v0 = VectorLoads.bf16(w, w0 + wi);
            FloatVector v1 = VectorLoads.bf16(w, w1 + wi);
            FloatVector v2 = VectorLoads.bf16(w, w2 + wi);
            FloatVector v3 = VectorLoads.bf16(w, w3 + wi);
            long xi = 4L * i;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + xi, VectorLoads.LE);
            a00 = v0.fma(xv, a00);
            a01 = v1.fma(xv, a01);
            a02 = v2.fma(xv, a02);
            a03 = v3.fma(xv, a03);
            xv = FloatVector.fromMemorySegment(F, x, x1 + xi, VectorLoads.LE);
            a10 = v0.fma(xv, a10);
            a11 = v1.fma(xv, a11);
            a12 = v2.fma(xv, a12);
            a13 = v3.fma(xv, a13);
            xv = FloatVector.fromMemorySegment(F, x, x2 + xi, VectorLoads.LE);
            a20 = v0.fma(xv, a20);
            a21 = v1.fma(xv, a21);
            a22 = v2.fma(xv, a22);
            a23 = v3.fma(xv, a23);
            xv = FloatVector.fromMemorySegment(F, x, x3 + xi, VectorLoads.LE);
            a30 = v0.fma(xv, a30);
            a31 = v1.fma(xv, a31);
            a32 = v2.fma(xv, a32);
            a33 = v3.fma(xv, a33);
        }
        sums[0] = a00.reduceLanes(VectorOperators.ADD);
        sums[1] = a01.reduceLanes(VectorOperators.ADD);
        sums[2] = a02.reduceLanes(VectorOperators.ADD);
        sums[3] = a03.reduceLanes(VectorOperators.ADD);
        sums[4] = a10.reduceLanes(VectorOperators.ADD);
        sums[5] = a11.reduceLanes(VectorOperators.ADD);
        sums[6] = a12.reduceLanes(VectorOperators.ADD);
        sums[7] = a13.reduceLanes(VectorOperators.ADD);
        sums[8] = a20.reduceLanes(VectorOperators.ADD);
        sums[9] = a21.reduceLanes(VectorOperators.ADD);
        sums[10] = a22.reduceLanes(VectorOperators.ADD);
        sums[11] = a23.reduceLanes(VectorOperators.ADD);
        sums[12] = a30.reduceLanes(VectorOperators.ADD);
        sums[13] = a31.reduceLanes(VectorOperators.ADD);
        sums[14] = a32.reduceLanes(VectorOperators.ADD);
        sums[15] = a33.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < k; i++) {
            long wi = 2L * i;
            float v0 = bf16At(w, w0 + wi);
            float v1 = bf16At(w, w1 + wi);
            float v2 = bf16At(w, w2 + wi);
            float v3 = bf16At(w, w3 + wi);
            long xi = 4L * i;
            tailRow(sums, 0, x.get(FLOAT, x0 + xi), v0, v1, v2, v3);
            tailRow(sums, 4, x.get(FLOAT, x1 + xi), v0, v1, v2, v3);
            tailRow(sums, 8, x.get(FLOAT, x2 + xi), v0, v1, v2, v3);
            tailRow(sums, 12, x.get(FLOAT, x3 + xi), v0, v1, v2, v3);
        }
    }

    static void rows4F16(MemorySegment x, long xr, MemorySegment w, long w0, long w1, long w2, long w3, int k,
                          float[] sums) {
        int vectorEnd = k - k % L;
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F);
        for (int i = 0; i < vectorEnd; i += L) {
            FloatVector xv = FloatVector.fromMemorySegment(F, x, xr + 4L * i, VectorLoads.LE);
            long wi = 2L * i;
            a0 = VectorLoads.f16(w, w0 + wi).fma(xv, a0);
            a1 = VectorLoads.f16(w, w1 + wi).fma(xv, a1);
            a2 = VectorLoads.f16(w, w2 + wi).fma(xv, a2);
            a3 = VectorLoads.f16(w, w3 + wi).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < k; i++) {
            float xs = x.get(FLOAT, xr + 4L * i);
            long wi = 2L * i;
            s0 += xs * f16At(w, w0 + wi);
            s1 += xs * f16At(w, w1 + wi);
            s2 += xs * f16At(w, w2 + wi);
            s3 += xs * f16At(w, w3 + wi);
        }
        sums[0] = s0;
        sums[1] = s1;
        sums[2] = s2;
        sums[3] = s3;
    }

    static void tile4x4F16(MemorySegment x, long x0, long x1, long x2, long x3,
                             MemorySegment w, long w0, long w1, long w2, long w3, int k, float[] sums) {
        int vectorEnd = k - k % L;
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        for (int i = 0; i < vectorEnd; i += L) {
            long wi = 2L * i;
            FloatVector v0 = VectorLoads.f16(w, w0 + wi);
            FloatVector v1 = VectorLoads.f16(w, w1 + wi);
            FloatVector v2 = VectorLoads.f16(w, w2 + wi);
            FloatVector v3 = VectorLoads.f16(w, w3 + wi);
            long xi = 4L * i;
            FloatVector xv = FloatVector.fromMemorySegment(F, x, x0 + xi, VectorLoads.LE);
            a00 = v0.fma(xv, a00);
            a01 = v1.fma(xv, a01);
            a02 = v2.fma(xv, a02);
            a03 = v3.fma(xv, a03);
            xv = FloatVector.fromMemorySegment(F, x, x1 + xi, VectorLoads.LE);
            a10 = v0.fma(xv, a10);
            a11 = v1.fma(xv, a11);
            a12 = v2.fma(xv, a12);
            a13 = v3.fma(xv, a13);
            xv = FloatVector.fromMemorySegment(F, x, x2 + xi, VectorLoads.LE);
            a20 = v0.fma(xv, a20);
            a21 = v1.fma(xv, a21);
            a22 = v2.fma(xv, a22);
            a23 = v3.fma(xv, a23);
            xv = FloatVector.fromMemorySegment(F, x, x3 + xi, VectorLoads.LE);
            a30 = v0.fma(xv, a30);
            a31 = v1.fma(xv, a31);
            a32 = v2.fma(xv, a32);
            a33 = v3.fma(xv, a33);
        }
        sums[0] = a00.reduceLanes(VectorOperators.ADD);
        sums[1] = a01.reduceLanes(VectorOperators.ADD);
        sums[2] = a02.reduceLanes(VectorOperators.ADD);
        sums[3] = a03.reduceLanes(VectorOperators.ADD);
        sums[4] = a10.reduceLanes(VectorOperators.ADD);
        sums[5] = a11.reduceLanes(VectorOperators.ADD);
        sums[6] = a12.reduceLanes(VectorOperators.ADD);
        sums[7] = a13.reduceLanes(VectorOperators.ADD);
        sums[8] = a20.reduceLanes(VectorOperators.ADD);
        sums[9] = a21.reduceLanes(VectorOperators.ADD);
        sums[10] = a22.reduceLanes(VectorOperators.ADD);
        sums[11] = a23.reduceLanes(VectorOperators.ADD);
        sums[12] = a30.reduceLanes(VectorOperators.ADD);
        sums[13] = a31.reduceLanes(VectorOperators.ADD);
        sums[14] = a32.reduceLanes(VectorOperators.ADD);
        sums[15] = a33.reduceLanes(VectorOperators.ADD);
        for (int i = vectorEnd; i < k; i++) {
            long wi = 2L * i;
            float v0 = f16At(w, w0 + wi);
            float v1 = f16At(w, w1 + wi);
            float v2 = f16At(w, w2 + wi);
            float v3 = f16At(w, w3 + wi);
            long xi = 4L * i;
            tailRow(sums, 0, x.get(FLOAT, x0 + xi), v0, v1, v2, v3);
            tailRow(sums, 4, x.get(FLOAT, x1 + xi), v0, v1, v2, v3);
            tailRow(sums, 8, x.get(FLOAT, x2 + xi), v0, v1, v2, v3);
            tailRow(sums, 12, x.get(FLOAT, x3 + xi), v0, v1, v2, v3);
        }
    }

    private static void tailRow(float[] sums, int at, float xs, float v0, float v1, float v2, float v3) {
        sums[at] += xs * v0;
        sums[at + 1] += xs * v1;
        sums[at + 2] += xs * v2;
        sums[at + 3] += xs * v3;
    }

    private static float f32At(MemorySegment w, long byteOffset) {
        return w.get(FLOAT, byteOffset);
    }

    private static float bf16At(MemorySegment w, long byteOffset) {
        return VectorLoads.bf16ToFloat(w.get(SHORT, byteOffset));
    }

    private static float f16At(MemorySegment w, long byteOffset) {
        return Float.float16ToFloat(w.get(SHORT, byteOffset));
    }
}

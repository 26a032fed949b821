package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.L;

import jdk.incubator.vector.FloatVector;

/**
 * Horizontal sums in lane order. {@code reduceLanes(ADD)} may add the lanes in one order in compiled code and
 * another in the interpreter's fallback, so the same product could differ in the last bit depending on JIT
 * warm-up; summing in a fixed order keeps every result reproducible (a model split into stages then matches the
 * whole model bit for bit).
 */
final class LaneSums {
    private LaneSums() {
    }

    /** A scratch array for {@link #sum}: one per thread. */
    static float[] scratch() {
        return new float[L];
    }

    static float sum(FloatVector v, float[] scratch) {
        v.intoArray(scratch, 0);
        float s = 0;
        for (int i = 0; i < L; i++) {
            s += scratch[i];
        }
        return s;
    }
}

package ai.parallax.tensors.ops;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;

import java.util.Arrays;

/**
 * Argument checks every {@link Ops} backend performs before an op, shared so that the CPU and GPU backends refuse
 * the same inputs with the same messages.
 */
public final class OpArguments {
    private OpArguments() {
    }

    public static void requireF32(Tensor t, String role) {
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(role + " '" + t.name() + "' must be F32, not " + t.dtype());
        }
    }

    public static void requireSameCount(Tensor a, Tensor b, String op) {
        if (a.elementCount() != b.elementCount()) {
            throw new IllegalArgumentException(op + ": '" + a.name() + "' " + shape(a) + " and '" + b.name() + "' "
                    + shape(b) + " differ in element count");
        }
    }

    public static String shape(Tensor t) {
        return Arrays.toString(t.shape());
    }

    /**
     * Checks the arguments of {@link Ops#rope} and returns half the rotary width (the cos/sin tables' row length).
     */
    public static int ropeHalfWidth(Tensor x, int heads, int headDim, int[] positions, Tensor cos, Tensor sin) {
        requireF32(x, "rope input");
        requireF32(cos, "rope cos table");
        requireF32(sin, "rope sin table");
        long half = cos.rowLength();
        if (sin.rowLength() != half || sin.rowCount() != cos.rowCount()) {
            throw new IllegalArgumentException("rope: sin table " + shape(sin) + " differs from cos table "
                    + shape(cos));
        }
        if (heads <= 0 || headDim <= 0 || 2 * half > headDim) {
            throw new IllegalArgumentException("rope: rotary width " + 2 * half + " (from cos table "
                    + shape(cos) + ") does not fit " + heads + " heads of dimension " + headDim);
        }
        long width = (long) heads * headDim;
        if (x.elementCount() != positions.length * width) {
            throw new IllegalArgumentException("rope: input '" + x.name() + "' " + shape(x) + " should be ["
                    + positions.length + ", " + width + "] for " + positions.length + " positions");
        }
        long maxPositions = cos.rowCount();
        for (int t = 0; t < positions.length; t++) {
            if (positions[t] < 0 || positions[t] >= maxPositions) {
                throw new IndexOutOfBoundsException("rope: position " + positions[t] + " of token " + t
                        + " is outside the cos/sin tables of " + maxPositions + " positions");
            }
        }
        return (int) half;
    }
}

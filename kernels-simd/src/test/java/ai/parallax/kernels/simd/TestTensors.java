package ai.parallax.kernels.simd;

import static org.assertj.core.api.Assertions.fail;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Random tensors in off-heap memory, and comparisons with a tolerance relative to the data's magnitude. */
final class TestTensors {
    private static final ValueLayout.OfFloat FLOAT =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TestTensors() {
    }

    /** A tensor of the given dtype with elements uniform in [-1, 1), rounded to that dtype. */
    static Tensor random(Arena arena, String name, DType dtype, Random random, long... shape) {
        long count = Tensor.elementCount(shape);
        long bytes = count * dtype.byteSize();
        MemorySegment m = arena.allocate(Math.max(1, bytes), 64).asSlice(0, bytes);
        for (long i = 0; i < count; i++) {
            float v = random.nextFloat() * 2 - 1;
            switch (dtype) {
                case F32 -> m.set(FLOAT, 4 * i, v);
                case BF16 -> m.set(SHORT, 2 * i, (short) (Float.floatToRawIntBits(v) >>> 16));
                case F16 -> m.set(SHORT, 2 * i, Float.floatToFloat16(v));
                default -> throw new IllegalArgumentException(dtype.toString());
            }
        }
        return new Tensor(name, dtype, shape, m);
    }

    static Tensor randomF32(Arena arena, String name, Random random, long... shape) {
        return random(arena, name, DType.F32, random, shape);
    }

    static Tensor zeros(Arena arena, String name, long... shape) {
        long bytes = Tensor.elementCount(shape) * 4;
        return new Tensor(name, DType.F32, shape, arena.allocate(Math.max(1, bytes), 64).asSlice(0, bytes));
    }

    static Tensor of(Arena arena, String name, float[] values, long... shape) {
        Tensor t = zeros(arena, name, shape);
        MemorySegment.copy(values, 0, t.data(), FLOAT, 0, values.length);
        return t;
    }

    static Tensor copyOf(Arena arena, Tensor t) {
        long bytes = t.byteSize();
        MemorySegment m = arena.allocate(Math.max(1, bytes), 64).asSlice(0, bytes);
        MemorySegment.copy(t.data(), 0, m, 0, bytes);
        return new Tensor(t.name() + "-copy", t.dtype(), t.shape(), m);
    }

    static float[] floats(Tensor t) {
        float[] out = new float[Math.toIntExact(t.elementCount())];
        for (int i = 0; i < out.length; i++) {
            out[i] = ReferenceOps.get(t, i);
        }
        return out;
    }

    /**
     * Asserts |actual - expected| <= relTol · max(|expected| over the whole tensor) element for element: summation
     * order differs between the kernels and the reference, so errors scale with the magnitude of the data.
     */
    static void assertClose(float[] expected, float[] actual, double relTol, String what) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + " != " + expected.length);
        }
        double scale = 1e-30;
        for (float e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        double tol = relTol * scale;
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(expected[i] - actual[i]) <= tol)) {
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " (tolerance " + tol
                        + ")");
            }
        }
    }
}

package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.random;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * {@link SimdOps#matmuls}, many independent products in one call, gives for every group what the scalar reference's
 * {@code matmul} gives for that group alone: groups of different shapes, F32 and BF16 weights, one and several rows,
 * with the groups split over one thread and over two.
 */
class GroupedMatmulTest {

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void everyGroupMatchesItsOwnReferenceProduct(int threads) {
        Random random = new Random(11 + threads);
        int[][] shapes = {{1, 40, 48}, {3, 17, 33}, {5, 65, 16}, {1, 8, 200}, {2, 1, 7}}; // rows, n, k
        try (Arena arena = Arena.ofShared();
             SimdOps ops = new SimdOps(threads, 0);
             ReferenceOps reference = new ReferenceOps()) {
            int groups = shapes.length;
            Tensor[] x = new Tensor[groups];
            Tensor[] w = new Tensor[groups];
            Tensor[] out = new Tensor[groups];
            Tensor[] expected = new Tensor[groups];
            for (int g = 0; g < groups; g++) {
                int[] s = shapes[g];
                x[g] = randomF32(arena, "x" + g, random, s[0], s[2]);
                w[g] = random(arena, "w" + g, g % 2 == 0 ? DType.F32 : DType.BF16, random, s[1], s[2]);
                out[g] = zeros(arena, "out" + g, s[0], s[1]);
                expected[g] = zeros(arena, "expected" + g, s[0], s[1]);
                reference.matmul(x[g], w[g], null, expected[g]);
            }
            ops.matmuls(x, w, out);
            for (int g = 0; g < groups; g++) {
                assertClose(floats(expected[g]), floats(out[g]), 1e-5, "group " + g + " with " + threads + " threads");
            }
        }
    }

    /** Block-scaled FP8 groups (partial edge blocks) beside a BF16 one, as DeepSeek's absorbed matrices come. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void fp8GroupsApplyTheirBlockScales(int threads) {
        Random random = new Random(21);
        try (Arena arena = Arena.ofShared();
             SimdOps ops = new SimdOps(threads, 0);
             ReferenceOps reference = new ReferenceOps()) {
            int[][] shapes = {{1, 20, 24}, {3, 9, 40}, {2, 16, 16}};
            Tensor[] x = new Tensor[3];
            Tensor[] w = new Tensor[3];
            Tensor[] out = new Tensor[3];
            for (int g = 0; g < 3; g++) {
                int[] s = shapes[g];
                x[g] = randomF32(arena, "x" + g, random, s[0], s[2]);
                w[g] = g == 1 ? random(arena, "w" + g, DType.BF16, random, s[1], s[2]) : fp8(arena, random, s[1], s[2]);
                out[g] = zeros(arena, "out" + g, s[0], s[1]);
            }
            ops.matmuls(x, w, out);
            for (int g = 0; g < 3; g++) {
                Tensor expected = zeros(arena, "expected" + g, out[g].shape());
                reference.matmul(x[g], w[g], null, expected);
                assertClose(floats(expected), floats(out[g]), 1e-5, "group " + g);
            }
        }
    }

    /** An E4M3 matrix of random finite codes with F32 scales per [4, 8] block. */
    private static Tensor fp8(Arena arena, Random random, int n, int k) {
        java.lang.foreign.MemorySegment codes = arena.allocate((long) n * k);
        for (long i = 0; i < (long) n * k; i++) {
            int code = random.nextInt(0x7F); // 0x7F (and 0xFF) are NaN
            codes.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (random.nextBoolean() ? code | 0x80 : code));
        }
        long[] scaleShape = ai.parallax.tensors.BlockScales.expectedShape(n, k, 4, 8);
        float[] scaleValues = new float[(int) (scaleShape[0] * scaleShape[1])];
        for (int i = 0; i < scaleValues.length; i++) {
            scaleValues[i] = 0.001f + random.nextFloat() / 100;
        }
        Tensor scales = TestTensors.of(arena, "scales", scaleValues, scaleShape);
        return new Tensor("fp8", DType.F8_E4M3, new long[] {n, k}, codes)
                .withBlockScales(new ai.parallax.tensors.BlockScales(scales, 4, 8));
    }

    @Test
    void mismatchedGroupIsNamed() {
        Random random = new Random(3);
        try (Arena arena = Arena.ofShared(); SimdOps ops = new SimdOps(1)) {
            Tensor[] x = {randomF32(arena, "x0", random, 1, 8), randomF32(arena, "x1", random, 1, 9)};
            Tensor[] w = {randomF32(arena, "w0", random, 4, 8), randomF32(arena, "w1", random, 4, 8)};
            Tensor[] out = {zeros(arena, "o0", 1, 4), zeros(arena, "o1", 1, 4)};
            assertThatThrownBy(() -> ops.matmuls(x, w, out)).hasMessageContaining("group 1");
            assertThatThrownBy(() -> ops.matmuls(x, w, new Tensor[] {out[0]}))
                    .hasMessageContaining("2 inputs, 2 weights and 1 outputs");
        }
    }
}

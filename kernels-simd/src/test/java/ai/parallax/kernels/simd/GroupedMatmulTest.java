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

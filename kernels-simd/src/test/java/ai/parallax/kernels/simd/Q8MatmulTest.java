package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.FloatFormats;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.quant.Q8Weights;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class Q8MatmulTest {
    private static SimdOps oneThread;
    private static SimdOps twoThreads;
    private static Arena arena;

    @BeforeAll
    static void start() {
        oneThread = new SimdOps(1, 0);
        twoThreads = new SimdOps(2, 0);
        arena = Arena.ofShared();
    }

    @AfterAll
    static void stop() {
        oneThread.close();
        twoThreads.close();
        arena.close();
    }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        // k: one block, blocks with a partial last one, shorter than a block, many blocks; n not a multiple of 4.
        int[][] shapes = {{4, 32}, {7, 100}, {5, 20}, {33, 256}, {9, 12320}, {6, 128}};
        for (int threads : new int[] {1, 2}) {
            // 32 and more: the token-lane GEMM (TokenVectorMatmul) with Q8 weights dequantised as they are widened.
            for (int tokens : new int[] {1, 2, 5, 17, 32, 33, 49}) {
                for (int[] nk : shapes) {
                    cases.add(Arguments.of(threads, tokens, nk[0], nk[1]));
                }
            }
        }
        return cases.stream();
    }

    /** The kernel computes exactly the product with the dequantised weights (up to float summation order). */
    @ParameterizedTest(name = "{0} threads, [{2}x{3}], T={1}")
    @MethodSource("cases")
    void matmulEqualsProductWithDequantisedWeights(int threads, int tokens, int n, int k) {
        Random random = new Random(n * 131L + k * 7L + tokens);
        Tensor x = randomF32(arena, "x", random, tokens, k);
        Tensor w = TestTensors.random(arena, "w", DType.BF16, random, n, k);
        Tensor bias = randomF32(arena, "bias", random, n);
        Tensor q8 = Q8Weights.quantize(w, arena);
        Tensor out = zeros(arena, "out", tokens, n);

        (threads == 1 ? oneThread : twoThreads).matmul(x, q8, bias, out);

        for (int t = 0; t < tokens; t++) {
            for (int r = 0; r < n; r++) {
                double expected = FloatFormats.readFloat(bias, r);
                double magnitude = Math.abs(expected);
                for (int c = 0; c < k; c++) {
                    double term = (double) FloatFormats.readFloat(x, (long) t * k + c) * Q8Weights.value(q8, r, c);
                    expected += term;
                    magnitude += Math.abs(term);
                }
                assertThat((double) FloatFormats.readFloat(out, (long) t * n + r)).as("token %d row %d", t, r)
                        .isCloseTo(expected, within(1e-5 * magnitude + 1e-6));
            }
        }
    }

    @Test
    void quantisationErrorIsAtMostHalfAStepOfItsBlock() {
        Random random = new Random(3);
        Tensor w = randomF32(arena, "w", random, 3, 70);
        Tensor q8 = Q8Weights.quantize(w, arena);
        assertThat(Q8Weights.isQ8(q8)).isTrue();
        assertThat(q8.blockScales().scales().shape()).containsExactly(3, 3);
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 70; c++) {
                float step = q8.blockScales().scale(r, c / Q8Weights.BLOCK);
                assertThat(Q8Weights.value(q8, r, c)).isCloseTo(FloatFormats.readFloat(w, r * 70L + c),
                        within(step / 2 * 1.0001f));
            }
            // The largest magnitude of each block is represented as ±127 steps, exactly.
            assertThat(q8.blockScales().scale(r, 0)).isPositive();
        }
        assertThat(Q8Weights.byteSize(q8)).isEqualTo(3 * 70 + 3 * 3 * 4);
    }
}

package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.copyOf;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** gatherRows and scatterAddRows, the moves around a mixture-of-experts layer, against {@link ReferenceOps}. */
class RowRoutingTest {
    private static SimdOps simd;
    private static ReferenceOps reference;

    @BeforeAll
    static void start() {
        simd = new SimdOps(1);
        reference = new ReferenceOps();
    }

    @AfterAll
    static void stop() {
        simd.close();
        reference.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 15, 16, 17, 2048, 2049})
    void gatherThenWeightedScatterAddMatchesReference(int width) {
        try (Arena arena = Arena.ofConfined()) {
            Random random = new Random(width);
            Tensor tokens = randomF32(arena, "tokens", random, 6, width);
            // Entries [1, 5) are this expert's: token 4 twice (as if routed by two slots), then 0 and 5.
            int[] rows = {2, 4, 0, 4, 5, 1};
            float[] weights = {9f, 0.25f, -1.5f, 0.5f, 2f, 9f};
            Tensor expectedBatch = zeros(arena, "expected-batch", 4, width);
            Tensor actualBatch = zeros(arena, "actual-batch", 4, width);
            reference.gatherRows(tokens, rows, 1, 4, expectedBatch);
            simd.gatherRows(tokens, rows, 1, 4, actualBatch);
            assertThat(floats(actualBatch)).containsExactly(floats(expectedBatch));
            assertThat(floats(actualBatch)[width]).as("batch row 1 is token 0").isEqualTo(floats(tokens)[0]);

            Tensor expected = randomF32(arena, "residual", random, 6, width);
            Tensor actual = copyOf(arena, expected);
            float[] before = floats(expected);
            reference.scatterAddRows(actualBatch, rows, weights, 1, 4, expected);
            simd.scatterAddRows(actualBatch, rows, weights, 1, 4, actual);
            assertClose(floats(expected), floats(actual), 1e-6, "scatterAddRows");
            // Row 2 is named only outside [1, 5), so it is untouched; row 4 received two weighted rows.
            assertThat(floats(actual)[2 * width]).isEqualTo(before[2 * width]);
            assertThat((double) floats(actual)[4 * width]).isCloseTo(before[4 * width]
                    + 0.25 * floats(actualBatch)[0] + 0.5 * floats(actualBatch)[2 * width],
                    org.assertj.core.api.Assertions.within(1e-5));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, 6})
    void rowOutsideTheSourceIsRefused(int row) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor tokens = zeros(arena, "tokens", 6, 8);
            Tensor batch = zeros(arena, "batch", 1, 8);
            assertThatThrownBy(() -> simd.gatherRows(tokens, new int[] {row}, 0, 1, batch))
                    .hasMessageContaining("row " + row + " outside [0, 6)");
        }
    }
}

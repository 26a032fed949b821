package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.random;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The MXFP4 matrix product against the scalar reference, which decodes each element from the specification's
 * table: every code and a spread of scales, odd token counts (the four-token tile and its remainder), with and
 * without bias, on one thread and split over two.
 */
class Mxfp4MatmulTest {
    private static SimdOps oneThread;
    private static SimdOps twoThreads;
    private static ReferenceOps reference;

    @BeforeAll
    static void start() {
        oneThread = new SimdOps(1);
        twoThreads = new SimdOps(2, 0);
        reference = new ReferenceOps();
    }

    @AfterAll
    static void stop() {
        oneThread.close();
        twoThreads.close();
        reference.close();
    }

    /** Random codes (all 16 occur) and scales in [120, 134]: values from 2^-7 · 0.5 to 2^7 · 6. */
    static Tensor[] randomMxfp4(Arena arena, Random random, int n, int k) {
        MemorySegment packed = arena.allocate((long) n * k / 2);
        for (long i = 0; i < packed.byteSize(); i++) {
            packed.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
        }
        MemorySegment scaleBytes = arena.allocate((long) n * k / 32);
        for (long i = 0; i < scaleBytes.byteSize(); i++) {
            scaleBytes.set(ValueLayout.JAVA_BYTE, i, (byte) (120 + random.nextInt(15)));
        }
        return new Tensor[] {new Tensor("w_blocks", DType.U8, new long[] {n, k / 2}, packed),
                new Tensor("w_scales", DType.U8, new long[] {n, k / 32}, scaleBytes)};
    }

    @ParameterizedTest(name = "{0} tokens x [{1}, {2}], bias {3}")
    @CsvSource({"1,8,32,false", "1,64,2880,true", "3,17,64,true", "4,5,96,false", "7,33,128,true",
            "9,96,64,true"})
    void matchesReference(int tokens, int n, int k, boolean withBias) {
        Random random = new Random(tokens * 1000L + n * 10L + k);
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = randomMxfp4(arena, random, n, k);
            Tensor x = randomF32(arena, "x", random, tokens, k);
            Tensor bias = withBias ? random(arena, "bias", DType.BF16, random, n) : null;
            Tensor expected = zeros(arena, "expected", tokens, n);
            reference.matmulMxfp4(x, w[0], w[1], bias, expected);
            for (SimdOps ops : new SimdOps[] {oneThread, twoThreads}) {
                Tensor out = zeros(arena, "out", tokens, n);
                ops.matmulMxfp4(x, w[0], w[1], bias, out);
                assertClose(floats(expected), floats(out), 1e-5, "MXFP4 matmul on " + ops.threads() + " threads");
            }
        }
    }

    /**
     * The decode that vectors of 8 float lanes use (a table of the 8 magnitudes, the sign moved in from bit 3),
     * forced on this machine's vectors: it must give what the signed-table decode gives.
     */
    @Test
    void magnitudeAndSignDecodeMatchesReference() {
        Assumptions.assumeTrue(Mxfp4MatmulKernels.VECTORISED, "no vector path on this machine");
        Random random = new Random(99);
        try (Arena arena = Arena.ofShared()) {
            int tokens = 5;
            int n = 13;
            int k = 96;
            Tensor[] w = randomMxfp4(arena, random, n, k);
            Tensor x = randomF32(arena, "x", random, tokens, k);
            Tensor expected = zeros(arena, "expected", tokens, n);
            reference.matmulMxfp4(x, w[0], w[1], null, expected);
            Tensor out = zeros(arena, "out", tokens, n);
            Mxfp4MatmulKernels.Task task = new Mxfp4MatmulKernels.Task(1, false);
            task.set(x.data(), w[0].data(), w[1].data(), null, null, out.data(), tokens, n, k);
            task.run(0, 1);
            assertClose(floats(expected), floats(out), 1e-5, "magnitude-and-sign decode");
        }
    }

    /** A one-hot input reads out single weight elements: each code and scale must decode exactly. */
    @Test
    void oneHotInputsReadEveryCodeExactly() {
        try (Arena arena = Arena.ofShared()) {
            int k = 32;
            MemorySegment packed = arena.allocate(16);
            for (int j = 0; j < 16; j++) {
                packed.set(ValueLayout.JAVA_BYTE, j, (byte) (j | (15 - j) << 4));
            }
            MemorySegment scaleBytes = arena.allocate(1);
            scaleBytes.set(ValueLayout.JAVA_BYTE, 0, (byte) 125);
            Tensor blocks = new Tensor("w_blocks", DType.U8, new long[] {1, 16}, packed);
            Tensor scales = new Tensor("w_scales", DType.U8, new long[] {1, 1}, scaleBytes);
            float[] magnitudes = {0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f};
            for (int c = 0; c < k; c++) {
                float[] oneHot = new float[k];
                oneHot[c] = 1f;
                Tensor x = TestTensors.of(arena, "x", oneHot, 1, k);
                Tensor out = zeros(arena, "out", 1, 1);
                oneThread.matmulMxfp4(x, blocks, scales, null, out);
                int code = c % 2 == 0 ? c / 2 : 15 - c / 2;
                float value = (code >= 8 ? -1 : 1) * magnitudes[code & 7] * 0.25f;
                assertThat(floats(out)[0]).as("element %d (code %d)", c, code).isEqualTo(value);
            }
        }
    }

    @Test
    void inputOfTheWrongWidthIsRefused() {
        try (Arena arena = Arena.ofShared()) {
            Tensor[] w = randomMxfp4(arena, new Random(1), 4, 64);
            Tensor x = zeros(arena, "x", 1, 32);
            assertThatThrownBy(() -> oneThread.matmulMxfp4(x, w[0], w[1], null, zeros(arena, "out", 1, 4)))
                    .hasMessageContaining("has rows of 32").hasMessageContaining("64 columns");
        }
    }
}

package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.copyOf;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.random;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every SimdOps operation against the scalar {@link ReferenceOps} on random data, at sizes that are and are not
 * multiples of the vector length, with one thread and with two threads splitting even the smallest operation.
 */
class SimdOpsMatchesReferenceTest {
    private static final double F32_TOLERANCE = 1e-5;
    private static final int[] ODD_SIZES = {1, 3, 15, 17, 63, 65, 127, 1000};

    private static SimdOps oneThread;
    private static SimdOps twoThreads;
    private static ReferenceOps reference;
    private Arena arena;

    @BeforeAll
    static void startBackends() {
        oneThread = new SimdOps(1);
        twoThreads = new SimdOps(2, 0); // threshold 0: every operation is split, however small
        reference = new ReferenceOps();
    }

    @AfterAll
    static void stopBackends() {
        oneThread.close();
        twoThreads.close();
        reference.close();
    }

    private Arena arena() {
        if (arena == null) {
            arena = Arena.ofShared();
        }
        return arena;
    }

    @AfterEach
    void freeTensors() {
        if (arena != null) {
            arena.close();
            arena = null;
        }
    }

    private static SimdOps simd(int threads) {
        return threads == 1 ? oneThread : twoThreads;
    }

    static Stream<Arguments> matmulCases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] shapes = {{1, 1}, {3, 15}, {17, 63}, {65, 17}, {5, 127}, {127, 1000}, {64, 64}, {2, 1000},
            // Long rows: several tokens per L2-sized chunk of activations, so the BF16 kernel runs several chunks.
            {9, 12289},
            // More row blocks than one L2 group over several k spans: the BF16 kernel adds span sums into the output.
            {133, 4130}};
        int i = 0;
        for (int threads : new int[] {1, 2}) {
            for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (int tokens : new int[] {1, 2, 5, 17}) {
                    for (int[] nk : shapes) {
                        cases.add(Arguments.of(threads, dtype, tokens, nk[0], nk[1], i++ % 2 == 0));
                    }
                }
            }
        }
        return cases.stream();
    }

    /**
     * Batches of tokens large enough for {@link TokenVectorMatmul}: token counts around its groups of 32
     * (a last group of one vector or two), rows not a multiple of its blocks of 12, k not a multiple of 16 nor of
     * its span of 2048, several blocks per thread.
     */
    static Stream<Arguments> batchedCases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] shapes = {{1, 1}, {13, 3}, {12, 16}, {25, 17}, {50, 2049}, {7, 4100}, {61, 1000}};
        int i = 0;
        for (int threads : new int[] {1, 2}) {
            for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (int tokens : new int[] {16, 31, 32, 33, 48, 49, 70}) {
                    for (int[] nk : shapes) {
                        cases.add(Arguments.of(threads, dtype, tokens, nk[0], nk[1], i++ % 2 == 0));
                    }
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} threads, {1} [{3}x{4}], T={2}, bias={5}")
    @MethodSource({"matmulCases", "batchedCases"})
    void matmulMatchesReference(int threads, DType dtype, int tokens, int n, int k, boolean withBias) {
        Random random = new Random(n * 31L + k + tokens);
        Tensor x = randomF32(arena(), "x", random, tokens, k);
        Tensor w = random(arena(), "w", dtype, random, n, k);
        Tensor bias = withBias ? random(arena(), "bias", dtype, random, n) : null;
        Tensor expected = zeros(arena(), "expected", tokens, n);
        Tensor actual = zeros(arena(), "actual", tokens, n);

        reference.matmul(x, w, bias, expected);
        simd(threads).matmul(x, w, bias, actual);

        assertClose(floats(expected), floats(actual), F32_TOLERANCE, "matmul");
    }

    static Stream<Arguments> rowCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int threads : new int[] {1, 2}) {
            for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (int width : ODD_SIZES) {
                    cases.add(Arguments.of(threads, dtype, width, width % 2 == 0 ? 1 : 5));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} threads, {1} weight, width {2}, {3} rows")
    @MethodSource("rowCases")
    void rmsNormMatchesReference(int threads, DType dtype, int width, int rows) {
        Random random = new Random(width * 7L + rows);
        Tensor x = randomF32(arena(), "x", random, rows, width);
        Tensor weight = random(arena(), "norm", dtype, random, width);
        Tensor expected = zeros(arena(), "expected", rows, width);
        Tensor actual = zeros(arena(), "actual", rows, width);

        reference.rmsNorm(x, weight, 1e-6f, expected);
        simd(threads).rmsNorm(x, weight, 1e-6f, actual);

        assertClose(floats(expected), floats(actual), F32_TOLERANCE, "rmsNorm");
    }

    @ParameterizedTest(name = "{0} threads, {1} table, width {2}, {3} tokens")
    @MethodSource("rowCases")
    void embeddingMatchesReference(int threads, DType dtype, int width, int tokens) {
        Random random = new Random(width);
        Tensor table = random(arena(), "table", dtype, random, 11, width);
        int[] ids = random.ints(tokens, 0, 11).toArray();
        Tensor expected = zeros(arena(), "expected", tokens, width);
        Tensor actual = zeros(arena(), "actual", tokens, width);

        reference.embedding(table, ids, expected);
        simd(threads).embedding(table, ids, actual);

        assertThat(floats(actual)).containsExactly(floats(expected));
    }

    static Stream<Arguments> elementwiseCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int threads : new int[] {1, 2}) {
            for (int width : ODD_SIZES) {
                cases.add(Arguments.of(threads, width, width % 3 == 0 ? 1 : 3));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} threads, width {1}, {2} rows")
    @MethodSource("elementwiseCases")
    void addSiluMulAndSoftmaxMatchReference(int threads, int width, int rows) {
        Random random = new Random(width * 13L + rows);
        Tensor a = randomF32(arena(), "a", random, rows, width);
        Tensor b = randomF32(arena(), "b", random, rows, width);
        SimdOps simd = simd(threads);

        Tensor expectedSum = copyOf(arena(), a);
        Tensor actualSum = copyOf(arena(), a);
        reference.add(expectedSum, b);
        simd.add(actualSum, b);
        assertClose(floats(expectedSum), floats(actualSum), F32_TOLERANCE, "add");

        Tensor expectedSilu = zeros(arena(), "expected", rows, width);
        Tensor actualSilu = zeros(arena(), "actual", rows, width);
        reference.siluMul(a, b, expectedSilu);
        simd.siluMul(a, b, actualSilu);
        assertClose(floats(expectedSilu), floats(actualSilu), F32_TOLERANCE, "siluMul");

        Tensor inPlace = copyOf(arena(), a);
        simd.siluMul(inPlace, b, inPlace);
        assertClose(floats(expectedSilu), floats(inPlace), F32_TOLERANCE, "siluMul with out == gate");

        Tensor expectedSoftmax = copyOf(arena(), a);
        Tensor actualSoftmax = copyOf(arena(), a);
        reference.softmax(expectedSoftmax);
        simd.softmax(actualSoftmax);
        assertClose(floats(expectedSoftmax), floats(actualSoftmax), F32_TOLERANCE, "softmax");

        for (int r = 0; r < rows; r++) {
            assertThat(simd.argmax(a, r)).as("argmax of row %d", r).isEqualTo(reference.argmax(a, r));
        }
    }

    static Stream<Arguments> ropeCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int threads : new int[] {1, 2}) {
            // heads, headDim, rotaryDim: full rotary, partial rotary, and halves that are not vector multiples
            for (int[] h : new int[][] {{2, 64, 64}, {3, 6, 6}, {4, 34, 34}, {2, 128, 64}, {5, 80, 20},
                    {1, 2, 2}, {2, 96, 48}}) {
                for (int tokens : new int[] {1, 5, 17}) {
                    cases.add(Arguments.of(threads, h[0], h[1], h[2], tokens));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} threads, {1} heads x {2}, rotary {3}, T={4}")
    @MethodSource("ropeCases")
    void ropeMatchesReference(int threads, int heads, int headDim, int rotaryDim, int tokens) {
        Random random = new Random(heads * 101L + headDim + tokens);
        int maxPositions = 40;
        Tensor x = randomF32(arena(), "x", random, tokens, (long) heads * headDim);
        float[] cosValues = new float[maxPositions * rotaryDim / 2];
        float[] sinValues = new float[cosValues.length];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < rotaryDim / 2; i++) {
                double angle = p * Math.pow(10000, -2.0 * i / rotaryDim);
                cosValues[p * rotaryDim / 2 + i] = (float) Math.cos(angle);
                sinValues[p * rotaryDim / 2 + i] = (float) Math.sin(angle);
            }
        }
        Tensor cos = TestTensors.of(arena(), "cos", cosValues, maxPositions, rotaryDim / 2);
        Tensor sin = TestTensors.of(arena(), "sin", sinValues, maxPositions, rotaryDim / 2);
        int[] positions = random.ints(tokens, 0, maxPositions).toArray();
        Tensor expected = copyOf(arena(), x);
        Tensor actual = copyOf(arena(), x);

        reference.rope(expected, heads, headDim, positions, cos, sin);
        simd(threads).rope(actual, heads, headDim, positions, cos, sin);

        assertClose(floats(expected), floats(actual), F32_TOLERANCE, "rope");
        if (rotaryDim < headDim) {
            float[] before = floats(x);
            float[] after = floats(actual);
            assertThat(after[headDim - 1]).as("element past the rotary part").isEqualTo(before[headDim - 1]);
        }
    }

    static Stream<Arguments> attentionCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int threads : new int[] {1, 2}) {
            for (int[] heads : new int[][] {{4, 4}, {4, 2}, {8, 2}}) {
                for (int headDim : new int[] {3, 16, 17, 64}) {
                    for (int tokens : new int[] {1, 2, 5, 17}) {
                        cases.add(Arguments.of(threads, heads[0], heads[1], headDim, tokens, tokens % 2 == 0 ? 0 : 6));
                    }
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0} threads, {1}/{2} heads x {3}, T={4}, startPos={5}")
    @MethodSource("attentionCases")
    void attentionMatchesReference(int threads, int heads, int kvHeads, int headDim, int tokens, int startPos) {
        Random random = new Random(heads * 1000L + kvHeads * 100 + headDim + tokens);
        int capacity = startPos + tokens + 3;
        Tensor q = randomF32(arena(), "q", random, tokens, (long) heads * headDim);
        Tensor keys = randomF32(arena(), "keys", random, capacity, (long) kvHeads * headDim);
        Tensor values = randomF32(arena(), "values", random, capacity, (long) kvHeads * headDim);
        Tensor expected = zeros(arena(), "expected", tokens, (long) heads * headDim);
        Tensor actual = zeros(arena(), "actual", tokens, (long) heads * headDim);
        float scale = (float) (1 / Math.sqrt(headDim));

        reference.attention(q, keys, values, startPos, heads, kvHeads, headDim, scale, expected);
        simd(threads).attention(q, keys, values, startPos, heads, kvHeads, headDim, scale, actual);

        assertClose(floats(expected), floats(actual), F32_TOLERANCE, "attention");
    }

    @ParameterizedTest(name = "{0} threads")
    @MethodSource("threadCounts")
    void copiesMoveEveryElement(int threads) {
        SimdOps simd = simd(threads);
        Random random = new Random(3);
        float[] host = new float[1005];
        for (int i = 0; i < host.length; i++) {
            host[i] = random.nextFloat();
        }
        Tensor t = simd.allocate("t", 17, 59);
        simd.copyFromHost(host, 2, t);
        Tensor u = simd.allocate("u", 1003);
        simd.copy(t, u);
        float[] back = new float[1004];
        simd.copyToHost(u, back, 1);
        for (int i = 0; i < 1003; i++) {
            assertThat(back[i + 1]).isEqualTo(host[i + 2]);
        }
    }

    static Stream<Integer> threadCounts() {
        return Stream.of(1, 2);
    }
}

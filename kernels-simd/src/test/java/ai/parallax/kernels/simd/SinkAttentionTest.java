package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.random;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import java.lang.foreign.Arena;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * gpt-oss attention (sliding window, sink logits) against the scalar reference; a ring buffer of window-many rows
 * against the full history; and the two limits that pin the semantics: window 0 without sinks is plain paged
 * attention, and a huge sink takes all the weight.
 */
class SinkAttentionTest {
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

    @ParameterizedTest(name = "{0}/{1} heads x {2}, blocks of {3}, window {4}")
    @CsvSource({"4,2,16,4,0", "4,2,16,4,3", "8,2,64,16,8", "2,1,17,3,5", "6,3,32,5,1"})
    void mixedBatchMatchesReference(int heads, int kvHeads, int headDim, int blockSize, int window) {
        Random random = new Random(heads * 31L + headDim * 7L + blockSize + window * 1000L);
        int blocks = 40;
        int[][] sequences = {{0, 7}, {11, 1}, {9, 5}, {0, 1}, {20, 2}};
        BatchLayout batch = new BatchLayout(blockSize);
        int next = 0;
        for (int[] s : sequences) {
            int[] table = new int[(s[0] + s[1] + blockSize - 1) / blockSize];
            for (int i = 0; i < table.length; i++) {
                table[i] = (next++ * 7) % blocks;
            }
            batch.add(s[0], s[1], table);
        }
        try (Arena arena = Arena.ofShared()) {
            int tokens = batch.tokenCount();
            long kvWidth = (long) kvHeads * headDim;
            Tensor q = randomF32(arena, "q", random, tokens, (long) heads * headDim);
            Tensor keys = randomF32(arena, "keys", random, (long) blocks * blockSize, kvWidth);
            Tensor values = randomF32(arena, "values", random, (long) blocks * blockSize, kvWidth);
            Tensor sinks = random(arena, "sinks", DType.BF16, random, heads);
            Tensor expected = zeros(arena, "expected", tokens, (long) heads * headDim);
            float scale = (float) (1 / Math.sqrt(headDim));
            reference.pagedAttentionWithSinks(q, keys, values, batch, heads, kvHeads, headDim, scale, window, sinks,
                    expected);
            for (SimdOps ops : new SimdOps[] {oneThread, twoThreads}) {
                Tensor actual = zeros(arena, "actual", tokens, (long) heads * headDim);
                ops.pagedAttentionWithSinks(q, keys, values, batch, heads, kvHeads, headDim, scale, window, sinks,
                        actual);
                assertClose(floats(expected), floats(actual), 1e-5, "sink attention, " + ops.threads() + " threads");
            }
        }
    }

    @Test
    void withoutWindowOrSinksItIsPagedAttention() {
        Random random = new Random(3);
        BatchLayout batch = new BatchLayout(4);
        batch.add(5, 3, new int[] {2, 0});
        try (Arena arena = Arena.ofShared()) {
            Tensor q = randomF32(arena, "q", random, 3, 4 * 16);
            Tensor keys = randomF32(arena, "keys", random, 12, 2 * 16);
            Tensor values = randomF32(arena, "values", random, 12, 2 * 16);
            Tensor expected = zeros(arena, "expected", 3, 4 * 16);
            Tensor actual = zeros(arena, "actual", 3, 4 * 16);
            oneThread.pagedAttention(q, keys, values, batch, 4, 2, 16, 0.25f, expected);
            oneThread.pagedAttentionWithSinks(q, keys, values, batch, 4, 2, 16, 0.25f, 0, null, actual);
            assertClose(floats(expected), floats(actual), 1e-6, "no window, no sinks");
        }
    }

    @Test
    void aHugeSinkTakesAllTheWeight() {
        Random random = new Random(4);
        BatchLayout batch = new BatchLayout(8);
        batch.add(0, 4, new int[] {0});
        try (Arena arena = Arena.ofShared()) {
            Tensor q = randomF32(arena, "q", random, 4, 16);
            Tensor keys = randomF32(arena, "keys", random, 8, 16);
            Tensor values = randomF32(arena, "values", random, 8, 16);
            Tensor sinks = TestTensors.of(arena, "sinks", new float[] {80f}, 1);
            Tensor out = zeros(arena, "out", 4, 16);
            oneThread.pagedAttentionWithSinks(q, keys, values, batch, 1, 1, 16, 1f, 0, sinks, out);
            for (float v : floats(out)) {
                assertThat(Math.abs(v)).isLessThan(1e-20f);
            }
        }
    }

    /**
     * A ring of {@code window + 2} rows (a block table that names the same block for every span of positions)
     * holds everything a windowed query reads: decoding position by position through it gives what the full history
     * gives.
     */
    @Test
    void aRingOfWindowRowsGivesTheSameResultAsTheFullHistory() {
        int heads = 4;
        int kvHeads = 2;
        int headDim = 16;
        int window = 5;
        int ring = window + 2;
        int positions = 23;
        long kvWidth = (long) kvHeads * headDim;
        Random random = new Random(9);
        try (Arena arena = Arena.ofShared()) {
            Tensor allKeys = randomF32(arena, "keys", random, positions, kvWidth);
            Tensor allValues = randomF32(arena, "values", random, positions, kvWidth);
            Tensor q = randomF32(arena, "q", random, positions, (long) heads * headDim);
            Tensor sinks = random(arena, "sinks", DType.F32, random, heads);
            Tensor ringKeys = zeros(arena, "ringKeys", ring, kvWidth);
            Tensor ringValues = zeros(arena, "ringValues", ring, kvWidth);
            int[] cyclic = new int[(positions + ring - 1) / ring];
            int[] identity = {0};
            for (int p = 0; p < positions; p++) {
                BatchLayout inRing = new BatchLayout(ring);
                inRing.add(p, 1, cyclic);
                oneThread.scatterRows(allKeys.rows(p, 1), ringKeys, inRing.slots());
                oneThread.scatterRows(allValues.rows(p, 1), ringValues, inRing.slots());
                Tensor fromRing = zeros(arena, "fromRing", 1, (long) heads * headDim);
                oneThread.pagedAttentionWithSinks(q.rows(p, 1), ringKeys, ringValues, inRing, heads, kvHeads, headDim,
                        0.25f, window, sinks, fromRing);

                BatchLayout full = new BatchLayout(positions);
                full.add(p, 1, identity);
                Tensor fromHistory = zeros(arena, "fromHistory", 1, (long) heads * headDim);
                reference.pagedAttentionWithSinks(q.rows(p, 1), allKeys, allValues, full, heads, kvHeads, headDim,
                        0.25f, window, sinks, fromHistory);
                assertClose(floats(fromHistory), floats(fromRing), 1e-5, "position " + p);
            }
        }
    }

    @Test
    void clampedSwiGluMatchesReferenceWithBothClampsFiring() {
        Random random = new Random(11);
        try (Arena arena = Arena.ofShared()) {
            float[] values = new float[3 * 2 * 40];
            for (int i = 0; i < values.length; i++) {
                values[i] = (random.nextFloat() * 2 - 1) * 12;   // beyond ±7 often
            }
            Tensor gateUp = TestTensors.of(arena, "gateUp", values, 3, 80);
            Tensor expected = zeros(arena, "expected", 3, 40);
            Tensor actual = zeros(arena, "actual", 3, 40);
            reference.clampedSwiGlu(gateUp, 7f, 1.702f, expected);
            oneThread.clampedSwiGlu(gateUp, 7f, 1.702f, actual);
            assertClose(floats(expected), floats(actual), 1e-6, "clamped SwiGLU");
            // gate 10 → 7, up −9 → −7: (−7 + 1) · 7 · sigmoid(1.702 · 7)
            Tensor one = TestTensors.of(arena, "one", new float[] {10f, -9f}, 1, 2);
            Tensor out = zeros(arena, "out", 1, 1);
            oneThread.clampedSwiGlu(one, 7f, 1.702f, out);
            assertThat((double) floats(out)[0]).isCloseTo(-6 * 7 / (1 + Math.exp(-1.702 * 7)),
                    org.assertj.core.api.Assertions.within(1e-5));
        }
    }
}

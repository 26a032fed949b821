package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.assertClose;
import static ai.parallax.kernels.simd.TestTensors.floats;
import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static ai.parallax.kernels.simd.TestTensors.zeros;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Paged attention against the scalar reference, and against contiguous attention over the same keys: a sequence's
 * result must not depend on which blocks hold its positions nor on the other sequences in the batch.
 */
class PagedAttentionTest {
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

    @ParameterizedTest(name = "{0}/{1} heads x {2}, blocks of {3}")
    // Groups of 1 to 8 query heads per key/value head: the kernel scores up to four of a group side by side.
    @CsvSource({"4,4,16,4", "4,2,17,3", "8,2,64,16", "2,1,3,1", "6,3,32,5", "16,2,32,4", "6,2,20,4", "5,1,16,8"})
    void mixedBatchMatchesReference(int heads, int kvHeads, int headDim, int blockSize) {
        Random random = new Random(heads * 31L + headDim * 7L + blockSize);
        int blocks = 40;
        // Prefill of 7 from 0, a decode at position 11, a chunk of 5 from position 9, a decode at position 0.
        int[][] sequences = {{0, 7}, {11, 1}, {9, 5}, {0, 1}};
        List<Integer> shuffled = new ArrayList<>();
        for (int b = 0; b < blocks; b++) {
            shuffled.add(b);
        }
        Collections.shuffle(shuffled, random);
        BatchLayout batch = new BatchLayout(blockSize);
        int next = 0;
        for (int[] s : sequences) {
            int[] table = new int[(s[0] + s[1] + blockSize - 1) / blockSize];
            for (int i = 0; i < table.length; i++) {
                table[i] = shuffled.get(next++);
            }
            batch.add(s[0], s[1], table);
        }
        try (Arena arena = Arena.ofShared()) {
            int tokens = batch.tokenCount();
            Tensor q = randomF32(arena, "q", random, tokens, (long) heads * headDim);
            Tensor keys = randomF32(arena, "keys", random, (long) blocks * blockSize, (long) kvHeads * headDim);
            Tensor values = randomF32(arena, "values", random, (long) blocks * blockSize, (long) kvHeads * headDim);
            Tensor expected = zeros(arena, "expected", tokens, (long) heads * headDim);
            float scale = (float) (1 / Math.sqrt(headDim));
            reference.pagedAttention(q, keys, values, batch, heads, kvHeads, headDim, scale, expected);
            for (SimdOps ops : new SimdOps[] {oneThread, twoThreads}) {
                Tensor actual = zeros(arena, "actual", tokens, (long) heads * headDim);
                ops.pagedAttention(q, keys, values, batch, heads, kvHeads, headDim, scale, actual);
                assertClose(floats(expected), floats(actual), 1e-5, "paged attention, " + ops.threads() + " threads");
            }
        }
    }

    @Test
    void oneDecodeTokenWithOneKeyValueHeadSplitsItsQueryHeadsOverTheThreads() {
        // One (token, key/value head) pair for two threads: each query head becomes a unit of its own.
        int heads = 4;
        int kvHeads = 1;
        int headDim = 64;
        int blockSize = 16;
        Random random = new Random(5);
        BatchLayout batch = new BatchLayout(blockSize);
        batch.add(700, 1, java.util.stream.IntStream.range(0, 44).map(b -> 43 - b).toArray());
        try (Arena arena = Arena.ofShared()) {
            Tensor q = randomF32(arena, "q", random, 1, (long) heads * headDim);
            Tensor keys = randomF32(arena, "keys", random, 44L * blockSize, (long) kvHeads * headDim);
            Tensor values = randomF32(arena, "values", random, 44L * blockSize, (long) kvHeads * headDim);
            Tensor expected = zeros(arena, "expected", 1, (long) heads * headDim);
            float scale = 0.125f;
            reference.pagedAttention(q, keys, values, batch, heads, kvHeads, headDim, scale, expected);
            for (SimdOps ops : new SimdOps[] {oneThread, twoThreads}) {
                Tensor actual = zeros(arena, "actual", 1, (long) heads * headDim);
                ops.pagedAttention(q, keys, values, batch, heads, kvHeads, headDim, scale, actual);
                assertClose(floats(expected), floats(actual), 1e-5, "paged attention, " + ops.threads() + " threads");
            }
        }
    }

    @Test
    void scatteredBlocksGiveTheSameResultAsAContiguousCache() {
        int heads = 4;
        int kvHeads = 2;
        int headDim = 16;
        int blockSize = 4;
        int start = 9;
        int count = 3;
        int positions = start + count;
        long kvWidth = (long) kvHeads * headDim;
        Random random = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            Tensor q = randomF32(arena, "q", random, count, (long) heads * headDim);
            Tensor contiguousKeys = randomF32(arena, "keys", random, positions, kvWidth);
            Tensor contiguousValues = randomF32(arena, "values", random, positions, kvWidth);
            // The same positions spread over blocks 5, 0 and 3 of a pool of 6 blocks.
            int[] table = {5, 0, 3};
            BatchLayout batch = new BatchLayout(blockSize);
            BatchLayout allPositions = new BatchLayout(blockSize);
            allPositions.add(0, positions, table);
            Tensor keyPool = zeros(arena, "keyPool", 6L * blockSize, kvWidth);
            Tensor valuePool = zeros(arena, "valuePool", 6L * blockSize, kvWidth);
            oneThread.scatterRows(contiguousKeys, keyPool, allPositions.slots());
            oneThread.scatterRows(contiguousValues, valuePool, allPositions.slots());
            batch.add(start, count, table);

            Tensor expected = zeros(arena, "expected", count, (long) heads * headDim);
            Tensor actual = zeros(arena, "actual", count, (long) heads * headDim);
            float scale = 0.25f;
            oneThread.attention(q, contiguousKeys, contiguousValues, start, heads, kvHeads, headDim, scale, expected);
            oneThread.pagedAttention(q, keyPool, valuePool, batch, heads, kvHeads, headDim, scale, actual);
            assertClose(floats(expected), floats(actual), 1e-6, "paged vs contiguous");

            Tensor gathered = zeros(arena, "gathered", 2, kvWidth);
            oneThread.gatherRows(keyPool, new int[] {5 * blockSize + 1, 3 * blockSize}, gathered);
            float[] g = floats(gathered);
            float[] k = floats(contiguousKeys);
            assertThat(g[0]).isEqualTo(k[(int) kvWidth]);
            assertThat(g[(int) kvWidth]).isEqualTo(k[(int) (8 * kvWidth)]);
        }
    }

    @Test
    void blockOutsideThePoolIsRefused() {
        BatchLayout batch = new BatchLayout(4);
        batch.add(0, 2, new int[] {7});
        try (Arena arena = Arena.ofShared()) {
            Tensor q = zeros(arena, "q", 2, 8);
            Tensor pool = zeros(arena, "pool", 8, 8);
            Tensor out = zeros(arena, "out", 2, 8);
            assertThatThrownBy(() -> oneThread.pagedAttention(q, pool, pool, batch, 1, 1, 8, 1f, out))
                    .isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("block 7 of a pool of 2 blocks");
        }
    }
}

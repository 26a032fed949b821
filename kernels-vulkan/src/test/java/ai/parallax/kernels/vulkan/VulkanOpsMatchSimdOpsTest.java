package ai.parallax.kernels.vulkan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.tensors.BlockScales;
import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import ai.parallax.tensors.ops.Ops;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every Vulkan op against the CPU backend on random inputs of odd sizes, for two configurations of the device:
 * the default (activations in mapped device memory) and a device-only one that mimics a discrete GPU without
 * mappable device memory (activations reached only through staging copies, weights uploaded through staging and
 * split into many 4 KiB buffers).
 */
class VulkanOpsMatchSimdOpsTest {
    private static final DType[] WEIGHT_TYPES = {DType.F32, DType.BF16, DType.F16};
    private static SimdOps cpu;
    private static VulkanOps mapped;
    private static VulkanOps deviceOnly;
    private static Arena arena;

    @BeforeAll
    static void open() {
        cpu = new SimdOps(1);
        mapped = VulkanOps.open();
        deviceOnly = VulkanOps.open(new VulkanOps.Options(-1, 4096, false, true));
        arena = Arena.ofShared();
    }

    @AfterAll
    static void close() {
        mapped.close();
        deviceOnly.close();
        cpu.close();
        arena.close();
    }

    static Stream<VulkanOps> backends() {
        return Stream.of(mapped, deviceOnly);
    }

    /** A pair of equal activation tensors, one per backend. */
    private record Pair(Tensor gpu, Tensor cpu) {
    }

    private static Pair randomPair(VulkanOps gpu, String name, Random random, long... shape) {
        float[] values = new float[Math.toIntExact(Tensor.elementCount(shape))];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextFloat() * 2 - 1;
        }
        Pair p = new Pair(gpu.allocate(name, shape), cpu.allocate(name, shape));
        gpu.copyFromHost(values, 0, p.gpu);
        cpu.copyFromHost(values, 0, p.cpu);
        return p;
    }

    private static Pair zeroPair(VulkanOps gpu, String name, long... shape) {
        return new Pair(gpu.allocate(name, shape), cpu.allocate(name, shape));
    }

    /** A weight in host memory, as a memory-mapped checkpoint would hand it over. */
    private static Tensor hostWeight(String name, DType dtype, Random random, long... shape) {
        long count = Tensor.elementCount(shape);
        MemorySegment m = arena.allocate(Math.max(4, count * dtype.byteSize()), 64).asSlice(0, count * dtype.byteSize());
        for (long i = 0; i < count; i++) {
            float v = random.nextFloat() * 2 - 1;
            switch (dtype) {
                case F32 -> m.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4 * i, v);
                case BF16 -> m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, (short) (Float.floatToRawIntBits(v) >>> 16));
                case F16 -> m.set(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * i, Float.floatToFloat16(v));
                default -> throw new IllegalArgumentException(dtype.toString());
            }
        }
        return new Tensor(name, dtype, shape, m);
    }

    private static void assertClose(Ops gpuOps, Pair p, double tolerance, String what) {
        float[] g = new float[Math.toIntExact(p.gpu.elementCount())];
        float[] c = new float[g.length];
        gpuOps.copyToHost(p.gpu, g, 0);
        cpu.copyToHost(p.cpu, c, 0);
        for (int i = 0; i < g.length; i++) {
            double scale = Math.max(1, Math.abs(c[i]));
            assertThat((double) g[i]).as("%s element %d of %d", what, i, g.length)
                    .isCloseTo(c[i], org.assertj.core.api.Assertions.within(tolerance * scale));
        }
    }

    static Stream<Arguments> matmulCases() {
        // K a multiple of 8 takes the vectorised path for 16-bit weights: 64, 1000, 1024, 8. From 16 tokens on the
        // tiled kernel runs, with partial tiles at every edge: 17, 70 and 130 tokens.
        int[][] sizes = {{1, 1, 1}, {1, 3, 17}, {3, 17, 65}, {5, 65, 1000}, {17, 33, 3}, {1, 1000, 64}, {4, 8, 2},
                {6, 37, 1024}, {1, 8, 8}, {70, 130, 33}, {130, 65, 100}};
        Stream.Builder<Arguments> cases = Stream.builder();
        for (VulkanOps b : new VulkanOps[] {mapped, deviceOnly}) {
            for (DType dtype : WEIGHT_TYPES) {
                for (int[] s : sizes) {
                    cases.add(Arguments.of(b, dtype, s[0], s[1], s[2], s[1] % 2 == 1));
                }
            }
        }
        return cases.build();
    }

    @ParameterizedTest(name = "{index}: {1} T={2} N={3} K={4} bias={5}", autoCloseArguments = false)
    @MethodSource("matmulCases")
    void matmulMatchesCpu(VulkanOps gpu, DType dtype, int tokens, int n, int k, boolean withBias) {
        Random random = new Random(tokens * 1000003L + n * 1009L + k);
        Tensor w = hostWeight("w", dtype, random, n, k);
        Tensor bias = withBias ? hostWeight("b", dtype, random, n) : null;
        Pair x = randomPair(gpu, "x", random, tokens, k);
        Pair out = zeroPair(gpu, "out", tokens, n);
        gpu.matmul(x.gpu, w, bias, out.gpu);
        cpu.matmul(x.cpu, w, bias, out.cpu);
        assertClose(gpu, out, 2e-6 * k + 1e-6, "matmul " + dtype);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void matmulOnRowViewsWritesOnlyThoseRows(VulkanOps gpu) {
        Random random = new Random(7);
        Tensor w = hostWeight("w", DType.BF16, random, 9, 33);
        Pair x = randomPair(gpu, "x", random, 5, 33);
        Pair out = randomPair(gpu, "out", random, 5, 9);
        gpu.matmul(x.gpu.rows(4, 1), w, null, out.gpu.rows(2, 1));
        cpu.matmul(x.cpu.rows(4, 1), w, null, out.cpu.rows(2, 1));
        assertClose(gpu, out, 1e-5, "matmul of the last row into row 2");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void embeddingMatchesCpu(VulkanOps gpu) {
        Random random = new Random(11);
        for (DType dtype : WEIGHT_TYPES) {
            for (int width : new int[] {1, 3, 17, 65}) {
                Tensor table = hostWeight("table", dtype, random, 1000, width);
                int[] ids = {999, 0, 17, 17, 512, 3};
                Pair out = zeroPair(gpu, "out", ids.length, width);
                gpu.embedding(table, ids, out.gpu);
                cpu.embedding(table, ids, out.cpu);
                assertClose(gpu, out, 0, "embedding " + dtype + " width " + width);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void rmsNormMatchesCpu(VulkanOps gpu) {
        Random random = new Random(13);
        for (DType dtype : WEIGHT_TYPES) {
            for (int width : new int[] {1, 3, 17, 65, 1000}) {
                for (int rows : new int[] {1, 3}) {
                    Tensor weight = hostWeight("norm", dtype, random, width);
                    Pair x = randomPair(gpu, "x", random, rows, width);
                    Pair out = zeroPair(gpu, "out", rows, width);
                    gpu.rmsNorm(x.gpu, weight, 1e-5f, out.gpu);
                    cpu.rmsNorm(x.cpu, weight, 1e-5f, out.cpu);
                    assertClose(gpu, out, 1e-5, "rmsNorm " + dtype + " " + rows + "x" + width);
                    gpu.rmsNorm(x.gpu, weight, 1e-6f, x.gpu);
                    cpu.rmsNorm(x.cpu, weight, 1e-6f, x.cpu);
                    assertClose(gpu, x, 1e-5, "rmsNorm in place " + dtype + " " + rows + "x" + width);
                }
            }
        }
        // Per-head norm: a [2, 3·17] input normalised in rows of 17.
        Tensor headNorm = hostWeight("q_norm", DType.BF16, random, 17);
        Pair q = randomPair(gpu, "q", random, 2, 51);
        gpu.rmsNorm(q.gpu, headNorm, 1e-6f, q.gpu);
        cpu.rmsNorm(q.cpu, headNorm, 1e-6f, q.cpu);
        assertClose(gpu, q, 1e-5, "per-head rmsNorm");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void ropeMatchesCpu(VulkanOps gpu) {
        Random random = new Random(17);
        int[][] shapes = {{1, 2, 1}, {3, 6, 3}, {2, 34, 17}, {4, 64, 32}, {3, 64, 16}};
        for (int[] s : shapes) {
            int heads = s[0];
            int headDim = s[1];
            int half = s[2];
            Pair cos = randomPair(gpu, "cos", random, 50, half);
            Pair sin = randomPair(gpu, "sin", random, 50, half);
            int[] positions = {0, 49, 7};
            Pair x = randomPair(gpu, "x", random, positions.length, (long) heads * headDim);
            gpu.rope(x.gpu, heads, headDim, positions, cos.gpu, sin.gpu);
            cpu.rope(x.cpu, heads, headDim, positions, cos.cpu, sin.cpu);
            assertClose(gpu, x, 1e-6, "rope heads " + heads + " dim " + headDim + " half " + half);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void attentionMatchesCpu(VulkanOps gpu) {
        Random random = new Random(19);
        int[][] cases = {{1, 0, 1, 1, 1}, {3, 0, 4, 2, 3}, {1, 16, 6, 3, 17}, {17, 5, 2, 1, 64}, {2, 300, 4, 4, 65}};
        for (int[] c : cases) {
            int tokens = c[0];
            int start = c[1];
            int heads = c[2];
            int kvHeads = c[3];
            int headDim = c[4];
            int capacity = start + tokens + 3;
            Pair q = randomPair(gpu, "q", random, tokens, (long) heads * headDim);
            Pair keys = randomPair(gpu, "k", random, capacity, (long) kvHeads * headDim);
            Pair values = randomPair(gpu, "v", random, capacity, (long) kvHeads * headDim);
            Pair out = zeroPair(gpu, "out", tokens, (long) heads * headDim);
            float scale = (float) (1 / Math.sqrt(headDim));
            gpu.attention(q.gpu, keys.gpu, values.gpu, start, heads, kvHeads, headDim, scale, out.gpu);
            cpu.attention(q.cpu, keys.cpu, values.cpu, start, heads, kvHeads, headDim, scale, out.cpu);
            assertClose(gpu, out, 1e-5, "attention T=" + tokens + " start=" + start + " heads=" + heads + "/"
                    + kvHeads + " dim=" + headDim);
        }
    }

    /** FP8 bytes with no NaN or infinity codes (they would poison both sums alike and prove nothing). */
    private static Tensor fp8Weight(String name, DType dtype, Random random, long rows, long cols) {
        MemorySegment m = arena.allocate(rows * cols + 1).asSlice(0, rows * cols);
        for (long i = 0; i < rows * cols; i++) {
            int b;
            do {
                b = random.nextInt(256);
            } while (dtype == DType.F8_E4M3 ? (b & 0x7F) == 0x7F : ((b >> 2) & 0x1F) == 0x1F);
            m.set(ValueLayout.JAVA_BYTE, i, (byte) b);
        }
        return new Tensor(name, dtype, new long[] {rows, cols}, m);
    }

    static Stream<Arguments> fp8Cases() {
        // {tokens, rows, cols, blockRows, blockCols}; 0 block size: no scales. Edge blocks are partial.
        int[][] sizes = {{1, 1, 1, 1, 1}, {3, 17, 65, 8, 16}, {5, 40, 300, 128, 128}, {1, 129, 257, 128, 128},
                {4, 9, 33, 0, 0}, {6, 64, 64, 32, 32}, {20, 70, 300, 128, 128}};
        Stream.Builder<Arguments> cases = Stream.builder();
        for (VulkanOps b : new VulkanOps[] {mapped, deviceOnly}) {
            for (DType dtype : new DType[] {DType.F8_E4M3, DType.F8_E5M2}) {
                for (int[] c : sizes) {
                    cases.add(Arguments.of(b, dtype, c[0], c[1], c[2], c[3], c[4]));
                }
            }
        }
        return cases.build();
    }

    @ParameterizedTest(name = "{index}: {1} T={2} N={3} K={4} blocks {5}x{6}", autoCloseArguments = false)
    @MethodSource("fp8Cases")
    void blockFp8MatmulMatchesCpu(VulkanOps gpu, DType dtype, int tokens, int n, int k, int blockRows,
                                  int blockCols) {
        Random random = new Random(n * 31L + k + dtype.ordinal());
        Tensor w = fp8Weight("w_fp8", dtype, random, n, k);
        if (blockRows > 0) {
            long[] shape = BlockScales.expectedShape(n, k, blockRows, blockCols);
            Tensor scales = hostWeight("w_scale_inv", n % 2 == 0 ? DType.F32 : DType.BF16, random, shape);
            w = w.withBlockScales(new BlockScales(scales, blockRows, blockCols));
        }
        Pair x = randomPair(gpu, "x", random, tokens, k);
        Pair out = zeroPair(gpu, "out", tokens, n);
        gpu.matmul(x.gpu, w, null, out.gpu);
        cpu.matmul(x.cpu, w, null, out.cpu);
        // E5M2 reaches 57344: compare relative to the size of the terms.
        double magnitude = dtype == DType.F8_E5M2 ? 6e4 : 500;
        assertClose(gpu, out, 1e-6 * k * magnitude + 1e-5, dtype + " matmul");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void mxfp4MatmulMatchesCpu(VulkanOps gpu) {
        Random random = new Random(21);
        int[][] sizes = {{1, 1, 32}, {3, 40, 96}, {5, 33, 320}, {9, 7, 64}, {17, 70, 64}};
        for (int[] size : sizes) {
            int tokens = size[0];
            int n = size[1];
            int k = size[2];
            MemorySegment codes = arena.allocate((long) n * k / 2);
            MemorySegment scaleBytes = arena.allocate((long) n * k / 32);
            for (long i = 0; i < codes.byteSize(); i++) {
                codes.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
            }
            for (long i = 0; i < scaleBytes.byteSize(); i++) {
                scaleBytes.set(ValueLayout.JAVA_BYTE, i, (byte) (118 + random.nextInt(16)));
            }
            Tensor blocks = new Tensor("blocks", DType.U8, new long[] {n, k / 2}, codes);
            Tensor scales = new Tensor("scales", DType.U8, new long[] {n, k / 32}, scaleBytes);
            Tensor bias = n % 2 == 0 ? hostWeight("bias", DType.BF16, random, n) : null;
            Pair x = randomPair(gpu, "x", random, tokens, k);
            Pair out = zeroPair(gpu, "out", tokens, n);
            gpu.matmulMxfp4(x.gpu, blocks, scales, bias, out.gpu);
            cpu.matmulMxfp4(x.cpu, blocks, scales, bias, out.cpu);
            assertClose(gpu, out, 1e-4, "MXFP4 matmul T=" + tokens + " N=" + n + " K=" + k);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void clampedSwiGluMatchesCpu(VulkanOps gpu) {
        Random random = new Random(22);
        for (int width : new int[] {1, 17, 40}) {
            Pair gateUp = randomPair(gpu, "gateUp", random, 3, 2L * width);
            Pair act = zeroPair(gpu, "act", 3, width);
            gpu.clampedSwiGlu(gateUp.gpu, 0.5f, 1.702f, act.gpu);
            cpu.clampedSwiGlu(gateUp.cpu, 0.5f, 1.702f, act.cpu);
            assertClose(gpu, act, 1e-6, "clamped SwiGLU width " + width);
        }
    }

    static Stream<Arguments> pagedAttentionCases() {
        // {heads, kvHeads, headDim, blockSize, window, sinks (0/1)}
        int[][] configs = {{1, 1, 1, 1, 0, 0}, {4, 2, 16, 4, 0, 0}, {6, 3, 17, 5, 0, 0}, {4, 2, 16, 4, 3, 1},
                {2, 1, 65, 16, 0, 1}, {8, 8, 64, 16, 7, 0}, {3, 1, 33, 3, 0, 0}};
        Stream.Builder<Arguments> cases = Stream.builder();
        for (VulkanOps b : new VulkanOps[] {mapped, deviceOnly}) {
            for (int[] c : configs) {
                cases.add(Arguments.of(b, c[0], c[1], c[2], c[3], c[4], c[5] == 1));
            }
        }
        return cases.build();
    }

    /**
     * Keys and values of a batch of sequences of different lengths (a long prefill, a short one, single-token decodes)
     * are scattered into a paged pool whose blocks are handed out in shuffled order, then attended over; both steps
     * on the device, compared with the CPU backend's.
     */
    @ParameterizedTest(name = "{index}: heads {1}/{2} dim {3} block {4} window {5} sinks {6}",
            autoCloseArguments = false)
    @MethodSource("pagedAttentionCases")
    void pagedAttentionOverScatteredKvMatchesCpu(VulkanOps gpu, int heads, int kvHeads, int headDim, int blockSize,
                                                 int window, boolean withSinks) {
        Random random = new Random(heads * 1000L + headDim * 10L + blockSize);
        int[][] sequences = {{0, 11}, {23, 1}, {5, 3}, {0, 1}, {40, 1}}; // {start, count}
        int blocksNeeded = 0;
        for (int[] s : sequences) {
            blocksNeeded += (s[0] + s[1] + blockSize - 1) / blockSize;
        }
        int poolBlocks = blocksNeeded + 3;
        List<Integer> free = new ArrayList<>();
        for (int b = 0; b < poolBlocks; b++) {
            free.add(b);
        }
        Collections.shuffle(free, random);
        BatchLayout batch = new BatchLayout(blockSize);
        for (int[] s : sequences) {
            int[] table = new int[(s[0] + s[1] + blockSize - 1) / blockSize];
            for (int i = 0; i < table.length; i++) {
                table[i] = free.removeLast();
            }
            batch.add(s[0], s[1], table);
        }
        int tokens = batch.tokenCount();
        long kvWidth = (long) kvHeads * headDim;
        // Earlier positions: random pool contents; this step's keys and values are scattered to their slots.
        Pair keys = randomPair(gpu, "keys", random, (long) poolBlocks * blockSize, kvWidth);
        Pair values = randomPair(gpu, "values", random, (long) poolBlocks * blockSize, kvWidth);
        Pair newKeys = randomPair(gpu, "newKeys", random, tokens, kvWidth);
        Pair newValues = randomPair(gpu, "newValues", random, tokens, kvWidth);
        gpu.scatterRows(newKeys.gpu, keys.gpu, batch.slots());
        cpu.scatterRows(newKeys.cpu, keys.cpu, batch.slots());
        gpu.scatterRows(newValues.gpu, values.gpu, batch.slots());
        cpu.scatterRows(newValues.cpu, values.cpu, batch.slots());
        assertClose(gpu, keys, 0, "keys scattered into the pool");
        assertClose(gpu, values, 0, "values scattered into the pool");

        Pair q = randomPair(gpu, "q", random, tokens, (long) heads * headDim);
        Pair out = zeroPair(gpu, "out", tokens, (long) heads * headDim);
        float scale = (float) (1 / Math.sqrt(headDim));
        if (window == 0 && !withSinks) {
            gpu.pagedAttention(q.gpu, keys.gpu, values.gpu, batch, heads, kvHeads, headDim, scale, out.gpu);
            cpu.pagedAttention(q.cpu, keys.cpu, values.cpu, batch, heads, kvHeads, headDim, scale, out.cpu);
        } else {
            Tensor sinks = withSinks ? hostWeight("sinks", DType.BF16, random, heads) : null;
            gpu.pagedAttentionWithSinks(q.gpu, keys.gpu, values.gpu, batch, heads, kvHeads, headDim, scale, window,
                    sinks, out.gpu);
            cpu.pagedAttentionWithSinks(q.cpu, keys.cpu, values.cpu, batch, heads, kvHeads, headDim, scale, window,
                    sinks, out.cpu);
        }
        assertClose(gpu, out, 1e-5, "paged attention");
    }

    /**
     * A fresh backend's first paged attention creates its score scratch, which submits the pending work; the ops
     * recorded after it in the same step (a rope staging its positions) must not overwrite the attention's staged
     * block tables before they run.
     */
    @Test
    void argumentsStagedBeforeAScratchBufferGrowsSurviveTheStep() {
        Random random = new Random(47);
        try (VulkanOps fresh = VulkanOps.open()) {
            BatchLayout batch = new BatchLayout(2);
            batch.add(0, 3, new int[] {3, 0});
            batch.add(4, 1, new int[] {1, 2, 4});
            Pair keys = randomPair(fresh, "keys", random, 10, 8);
            Pair values = randomPair(fresh, "values", random, 10, 8);
            Pair q = randomPair(fresh, "q", random, 4, 16);
            Pair out = zeroPair(fresh, "out", 4, 16);
            Pair cos = randomPair(fresh, "cos", random, 8, 2);
            Pair sin = randomPair(fresh, "sin", random, 8, 2);
            Pair x = randomPair(fresh, "x", random, 4, 16);
            int[] positions = {7, 6, 5, 4};
            fresh.pagedAttention(q.gpu, keys.gpu, values.gpu, batch, 2, 1, 8, 0.3f, out.gpu);
            fresh.rope(x.gpu, 4, 4, positions, cos.gpu, sin.gpu);
            cpu.pagedAttention(q.cpu, keys.cpu, values.cpu, batch, 2, 1, 8, 0.3f, out.cpu);
            cpu.rope(x.cpu, 4, 4, positions, cos.cpu, sin.cpu);
            assertClose(fresh, out, 1e-5, "paged attention recorded before a rope");
            assertClose(fresh, x, 1e-6, "rope recorded after a paged attention");
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void pagedAttentionRejectsABlockOutsideThePool(VulkanOps gpu) {
        BatchLayout batch = new BatchLayout(4);
        batch.add(0, 2, new int[] {3});
        Tensor q = gpu.allocate("q", 2, 8);
        Tensor pool = gpu.allocate("pool", 12, 8);
        Tensor out = gpu.allocate("out", 2, 8);
        assertThatThrownBy(() -> gpu.pagedAttention(q, pool, pool, batch, 1, 1, 8, 1f, out))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("block 3");
    }

    /** How an MoE layer routes tokens to an expert and adds its weighted outputs back, repeats included. */
    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void expertGatherAndScatterAddMatchCpu(VulkanOps gpu) {
        Random random = new Random(27);
        for (int width : new int[] {1, 17, 300}) {
            Pair hidden = randomPair(gpu, "hidden", random, 9, width);
            Pair residual = randomPair(gpu, "residual", random, 9, width);
            int[] routed = {8, 0, 3, 3, 5, 7, 1};
            float[] weights = {0.5f, -1.25f, 0.75f, 2f, 0.125f, 1f, -0.5f};
            Pair in = zeroPair(gpu, "in", 5, width);
            gpu.gatherRows(hidden.gpu, routed, 1, 5, in.gpu);
            cpu.gatherRows(hidden.cpu, routed, 1, 5, in.cpu);
            assertClose(gpu, in, 0, "gather of routed rows, width " + width);
            gpu.scatterAddRows(in.gpu, routed, weights, 1, 5, residual.gpu);
            cpu.scatterAddRows(in.cpu, routed, weights, 1, 5, residual.cpu);
            assertClose(gpu, residual, 1e-6, "scatter-add with a repeated row, width " + width);
            Pair picked = zeroPair(gpu, "picked", 3, width);
            int[] last = {8, 2, 2};
            gpu.gatherRows(hidden.gpu, last, picked.gpu);
            cpu.gatherRows(hidden.cpu, last, picked.cpu);
            assertClose(gpu, picked, 0, "gather of logits rows, width " + width);
        }
        Pair small = randomPair(gpu, "small", random, 2, 4);
        assertThatThrownBy(() -> gpu.scatterAddRows(small.gpu, new int[] {0, 2}, new float[] {1, 1}, 0, 2, small.gpu))
                .isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("row index 2");
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void elementwiseOpsMatchCpu(VulkanOps gpu) {
        Random random = new Random(23);
        for (int n : new int[] {1, 3, 17, 65, 1000, 4099}) {
            Pair x = randomPair(gpu, "x", random, 1, n);
            Pair y = randomPair(gpu, "y", random, 1, n);
            gpu.add(x.gpu, y.gpu);
            cpu.add(x.cpu, y.cpu);
            assertClose(gpu, x, 1e-7, "add " + n);
            Pair out = zeroPair(gpu, "out", 1, n);
            gpu.siluMul(x.gpu, y.gpu, out.gpu);
            cpu.siluMul(x.cpu, y.cpu, out.cpu);
            assertClose(gpu, out, 1e-6, "siluMul " + n);
            gpu.siluMul(x.gpu, y.gpu, x.gpu);
            cpu.siluMul(x.cpu, y.cpu, x.cpu);
            assertClose(gpu, x, 1e-6, "siluMul into gate " + n);
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void softmaxAndArgmaxMatchCpu(VulkanOps gpu) {
        Random random = new Random(29);
        for (int width : new int[] {1, 3, 17, 65, 1000, 32000}) {
            for (int rows : new int[] {1, 3}) {
                Pair x = randomPair(gpu, "x", random, rows, width);
                for (int r = 0; r < rows; r++) {
                    assertThat(gpu.argmax(x.gpu, r)).as("argmax row %d width %d", r, width)
                            .isEqualTo(cpu.argmax(x.cpu, r));
                }
                gpu.softmax(x.gpu);
                cpu.softmax(x.cpu);
                assertClose(gpu, x, 1e-6, "softmax " + rows + "x" + width);
            }
        }
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void argmaxPrefersTheFirstOfEqualMaxima(VulkanOps gpu) {
        float[] values = new float[777];
        values[5] = 3;
        values[300] = 3;
        values[776] = 3;
        Tensor x = gpu.allocate("ties", 1, values.length);
        gpu.copyFromHost(values, 0, x);
        assertThat(gpu.argmax(x, 0)).isEqualTo(5);
    }

    /**
     * The argmax of every row of a small matrix comes from one submission, and a later change to the matrix, by a
     * recorded op or from the host, is seen by the next argmax.
     */
    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void argmaxOfEachRowIsOneSubmissionAndSeesLaterWrites(VulkanOps gpu) {
        float[] values = new float[3 * 50];
        values[7] = 1;
        values[50 + 49] = 1;
        values[100] = 1;
        Tensor x = gpu.allocate("logits", 3, 50);
        gpu.copyFromHost(values, 0, x);
        long before = gpu.submissions();
        assertThat(new int[] {gpu.argmax(x, 0), gpu.argmax(x, 1), gpu.argmax(x, 2)}).containsExactly(7, 49, 0);
        assertThat(gpu.submissions() - before).as("submissions for three rows' argmax").isEqualTo(1);

        float[] bump = new float[3 * 50];
        bump[20] = 5;
        Tensor delta = gpu.allocate("delta", 3, 50);
        gpu.copyFromHost(bump, 0, delta);
        gpu.add(x, delta);
        assertThat(gpu.argmax(x, 0)).as("after an add on the device").isEqualTo(20);
        values[50 + 3] = 9;
        gpu.copyFromHost(values, 0, x);
        assertThat(gpu.argmax(x, 1)).as("after a write from the host").isEqualTo(3);
        assertThat(gpu.argmax(x.rows(2, 1), 0)).as("through a view").isEqualTo(0);
    }

    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void copiesMoveExactlyTheViewedRows(VulkanOps gpu) {
        Random random = new Random(31);
        Pair src = randomPair(gpu, "src", random, 3, 17);
        Pair cache = randomPair(gpu, "cache", random, 10, 17);
        gpu.copyRows(src.gpu, cache.gpu, 6);
        cpu.copyRows(src.cpu, cache.cpu, 6);
        assertClose(gpu, cache, 0, "copyRows");
        float[] row = new float[17];
        gpu.copyToHost(cache.gpu.rows(7, 1), row, 0);
        float[] expected = new float[17];
        cpu.copyToHost(src.cpu.rows(1, 1), expected, 0);
        assertThat(row).containsExactly(expected);
        float[] fresh = new float[2 * 17];
        for (int i = 0; i < fresh.length; i++) {
            fresh[i] = i;
        }
        gpu.copyFromHost(fresh, 0, cache.gpu.rows(1, 2));
        cpu.copyFromHost(fresh, 0, cache.cpu.rows(1, 2));
        gpu.copy(cache.gpu.rows(1, 1), src.gpu.rows(0, 1));
        cpu.copy(cache.cpu.rows(1, 1), src.cpu.rows(0, 1));
        assertClose(gpu, cache, 0, "copyFromHost into a view");
        assertClose(gpu, src, 0, "copy of a row");
    }

    @Test
    void weightsLargerThanOneBufferAreSplitByRows() {
        Random random = new Random(37);
        // 4 KiB buffers: 1000 rows of 65 BF16 elements (130 bytes) make 33 buffers of 31 rows.
        Tensor table = hostWeight("big", DType.BF16, random, 1000, 65);
        long before = deviceOnly.weightBytesOnDevice();
        Pair x = randomPair(deviceOnly, "x", random, 3, 65);
        Pair out = zeroPair(deviceOnly, "out", 3, 1000);
        deviceOnly.matmul(x.gpu, table, null, out.gpu);
        cpu.matmul(x.cpu, table, null, out.cpu);
        assertClose(deviceOnly, out, 1e-4, "split matmul");
        assertThat(deviceOnly.weightBytesOnDevice() - before).isEqualTo(table.byteSize());
        int[] ids = {0, 30, 31, 999, 500};
        Pair rows = zeroPair(deviceOnly, "rows", ids.length, 65);
        deviceOnly.embedding(table, ids, rows.gpu);
        cpu.embedding(table, ids, rows.cpu);
        assertClose(deviceOnly, rows, 0, "split embedding");
    }

    /** A stacked weight prepared at load serves its experts' row views from the one device copy. */
    @ParameterizedTest(autoCloseArguments = false)
    @MethodSource("backends")
    void preparedWeightServesItsRowViews(VulkanOps gpu) {
        Random random = new Random(43);
        int experts = 4;
        int rows = 40;
        Tensor stacked = hostWeight("experts.gate", DType.BF16, random, experts * rows, 33);
        long before = gpu.weightBytesOnDevice();
        gpu.prepareWeight(stacked);
        assertThat(gpu.weightBytesOnDevice() - before).isEqualTo(stacked.byteSize());
        Pair x = randomPair(gpu, "x", random, 3, 33);
        for (int e = 0; e < experts; e++) {
            Tensor expert = stacked.rows((long) e * rows, rows);
            Pair out = zeroPair(gpu, "out", 3, rows);
            gpu.matmul(x.gpu, expert, null, out.gpu);
            cpu.matmul(x.cpu, expert, null, out.cpu);
            assertClose(gpu, out, 1e-4, "expert " + e + " of a prepared stack");
        }
        if (gpu == mapped) {
            assertThat(gpu.weightBytesOnDevice() - before).as("no expert uploaded again")
                    .isEqualTo(stacked.byteSize());
        }
    }

    @Test
    void stepIsRecordedAndSubmittedOnlyWhenTheHostReads() {
        Random random = new Random(41);
        Tensor w = hostWeight("w", DType.F16, random, 64, 64);
        Tensor norm = hostWeight("norm", DType.F32, random, 64);
        Tensor x = mapped.allocate("x", 1, 64);
        Tensor y = mapped.allocate("y", 1, 64);
        mapped.copyFromHost(new float[64], 0, x);
        mapped.matmul(x, w, null, y); // uploads w
        mapped.rmsNorm(y, norm, 1e-5f, y); // uploads norm
        mapped.flush();
        long submissions = mapped.submissions();
        for (int layer = 0; layer < 10; layer++) {
            mapped.rmsNorm(x, norm, 1e-5f, y);
            mapped.matmul(y, w, null, x);
            mapped.add(x, y);
        }
        assertThat(mapped.submissions()).as("no submission while recording").isEqualTo(submissions);
        mapped.argmax(x, 0);
        assertThat(mapped.submissions()).isEqualTo(submissions + 1);
    }

    @Test
    void foreignTensorsAreRejectedWithTheirName() {
        Tensor hostActivation = cpu.allocate("cpu-hidden", 1, 8);
        Tensor out = mapped.allocate("out", 1, 8);
        assertThatThrownBy(() -> mapped.add(out, hostActivation)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cpu-hidden").hasMessageContaining("not a tensor allocated by this");
    }
}

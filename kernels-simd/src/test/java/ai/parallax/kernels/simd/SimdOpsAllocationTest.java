package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.TestTensors.randomF32;
import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.tensors.DType;
import ai.parallax.tensors.Tensor;
import ai.parallax.tensors.ops.BatchLayout;
import java.lang.foreign.Arena;
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The hot path allocates nothing: after warm-up, a decode step's worth of operations (and a batched matmul) run
 * thousands of times while the calling thread and the pool's workers allocate (almost) no heap bytes.
 */
class SimdOpsAllocationTest {
    private static final int WARM_UP = 10_000;
    private static final int MEASURED = 10_000;
    private static final int MAX_ROUNDS = 5;
    /** Bytes per operation allowed for JIT and profiling noise; a boxed vector alone would cost 16+ bytes. */
    private static final double SLACK_PER_OP = 64;

    @Test
    void operationsAllocateNothingAfterWarmUp() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        assertThat(threads.isThreadAllocatedMemorySupported()).isTrue();
        threads.setThreadAllocatedMemoryEnabled(true);
        try (SimdOps ops = new SimdOps(2); Arena arena = Arena.ofShared()) {
            Random random = new Random(1);
            Tensor w = TestTensors.random(arena, "w", DType.BF16, random, 256, 520);
            Tensor wF16 = TestTensors.random(arena, "w16", DType.F16, random, 130, 520);
            Tensor wF32 = TestTensors.random(arena, "w32", DType.F32, random, 130, 520);
            Tensor x1 = randomF32(arena, "x1", random, 1, 520);
            Tensor x8 = randomF32(arena, "x8", random, 8, 520);
            Tensor out1 = ops.allocate("out1", 1, 256);
            Tensor out8 = ops.allocate("out8", 8, 256);
            Tensor x33 = randomF32(arena, "x33", random, 33, 520);
            Tensor out33 = ops.allocate("out33", 33, 256);
            Tensor out33F16 = ops.allocate("out33F16", 33, 130);
            Tensor out16 = ops.allocate("out16", 8, 130);
            Tensor out16Row = out16.rows(0, 1);
            Tensor q = randomF32(arena, "q", random, 1, 8 * 64);
            Tensor keys = randomF32(arena, "keys", random, 128, 2 * 64);
            Tensor values = randomF32(arena, "values", random, 128, 2 * 64);
            Tensor attended = ops.allocate("attended", 1, 8 * 64);
            Tensor hidden = randomF32(arena, "hidden", random, 8, 4096);
            Tensor norm = TestTensors.random(arena, "norm", DType.BF16, random, 4096);
            Tensor cos = randomF32(arena, "cos", random, 128, 32);
            Tensor sin = randomF32(arena, "sin", random, 128, 32);
            Tensor gate = randomF32(arena, "gate", random, 8, 4096);
            Tensor logits = randomF32(arena, "logits", random, 1, 4099);
            int[] positions = {100};
            Map<String, Runnable> operations = new LinkedHashMap<>();
            operations.put("matmul T=1 BF16", () -> ops.matmul(x1, w, null, out1));
            operations.put("matmul T=8 BF16", () -> ops.matmul(x8, w, null, out8));
            operations.put("matmul T=33 BF16", () -> ops.matmul(x33, w, null, out33));
            operations.put("matmul T=1 F16", () -> ops.matmul(x1, wF16, null, out16Row));
            operations.put("matmul T=8 F16", () -> ops.matmul(x8, wF16, null, out16));
            operations.put("matmul T=33 F16", () -> ops.matmul(x33, wF16, null, out33F16));
            operations.put("matmul T=1 F32", () -> ops.matmul(x1, wF32, null, out16Row));
            operations.put("matmul T=8 F32", () -> ops.matmul(x8, wF32, null, out16));
            operations.put("attention", () -> ops.attention(q, keys, values, 100, 8, 2, 64, 0.125f, attended));
            operations.put("rmsNorm", () -> ops.rmsNorm(hidden, norm, 1e-6f, hidden));
            operations.put("rope", () -> ops.rope(q, 8, 64, positions, cos, sin));
            operations.put("siluMul", () -> ops.siluMul(gate, hidden, gate));
            operations.put("add", () -> ops.add(hidden, gate));
            operations.put("softmax", () -> ops.softmax(logits));
            operations.put("argmax", () -> ops.argmax(logits, 0));
            Tensor[] mxfp4 = Mxfp4MatmulTest.randomMxfp4(arena, random, 256, 512);
            Tensor x1k512 = randomF32(arena, "x1k512", random, 1, 512);
            Tensor x8k512 = randomF32(arena, "x8k512", random, 8, 512);
            Tensor sinks = TestTensors.random(arena, "sinks", DType.BF16, random, 8);
            Tensor gateUp = randomF32(arena, "gateUp", random, 8, 512);
            Tensor swiglu = ops.allocate("swiglu", 8, 256);
            BatchLayout decode = new BatchLayout(16);
            decode.add(100, 1, new int[] {7, 6, 5, 4, 3, 2, 1, 0});
            operations.put("matmulMxfp4 T=1", () -> ops.matmulMxfp4(x1k512, mxfp4[0], mxfp4[1], null, out1));
            operations.put("matmulMxfp4 T=8", () -> ops.matmulMxfp4(x8k512, mxfp4[0], mxfp4[1], null, out8));
            operations.put("pagedAttentionWithSinks", () -> ops.pagedAttentionWithSinks(q, keys, values, decode, 8, 2,
                    64, 0.125f, 16, sinks, attended));
            operations.put("clampedSwiGlu", () -> ops.clampedSwiGlu(gateUp, 7f, 1.702f, swiglu));
            for (Runnable op : operations.values()) {
                for (int i = 0; i < WARM_UP; i++) {
                    op.run();
                }
            }
            long[] workerIds = ops.workerThreadIds();
            StringBuilder report = new StringBuilder();
            boolean allocates = false;
            for (Map.Entry<String, Runnable> e : operations.entrySet()) {
                Runnable op = e.getValue();
                // A round that allocates may still be running code the JIT has not finished compiling (on a busy
                // machine the compile queue lags); an operation that really allocates does so in every round.
                double callerPerOp = Double.NaN;
                double workersPerOp = Double.NaN;
                for (int round = 0; round < MAX_ROUNDS; round++) {
                    long[] workersBefore = threads.getThreadAllocatedBytes(workerIds);
                    long callerBefore = threads.getCurrentThreadAllocatedBytes();
                    for (int i = 0; i < MEASURED; i++) {
                        op.run();
                    }
                    long callerBytes = threads.getCurrentThreadAllocatedBytes() - callerBefore;
                    long[] workersAfter = threads.getThreadAllocatedBytes(workerIds);
                    long workerBytes = 0;
                    for (int i = 0; i < workerIds.length; i++) {
                        workerBytes += workersAfter[i] - workersBefore[i];
                    }
                    callerPerOp = (double) callerBytes / MEASURED;
                    workersPerOp = (double) workerBytes / MEASURED;
                    if (callerPerOp < SLACK_PER_OP && workersPerOp < SLACK_PER_OP) {
                        break;
                    }
                }
                allocates |= callerPerOp >= SLACK_PER_OP || workersPerOp >= SLACK_PER_OP;
                report.append(String.format("%s: caller %.2f, workers %.2f bytes/op%n", e.getKey(), callerPerOp,
                        workersPerOp));
            }
            System.out.print(report);
            assertThat(allocates).as("an operation allocates:%n%s", report).isFalse();
        }
    }
}

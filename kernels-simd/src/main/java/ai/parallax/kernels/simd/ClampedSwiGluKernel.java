package ai.parallax.kernels.simd;

import static ai.parallax.kernels.simd.VectorLoads.FLOAT;

import java.lang.foreign.MemorySegment;

/**
 * gpt-oss's expert activation ({@link ai.parallax.tensors.ops.Ops#clampedSwiGlu}) over interleaved gate/up
 * columns. It runs once per routed token on an expert's intermediate width, a small fraction of the work of the
 * two matrix products around it, so a plain loop with {@link Math#exp} is enough.
 */
final class ClampedSwiGluKernel {
    private ClampedSwiGluKernel() {
    }

    static void apply(MemorySegment gateUp, MemorySegment out, long rows, long width, float limit, float alpha) {
        for (long r = 0; r < rows; r++) {
            long in = 4L * r * 2 * width;
            long at = 4L * r * width;
            for (long i = 0; i < width; i++) {
                float gate = Math.min(gateUp.get(FLOAT, in + 8 * i), limit);
                float up = Math.clamp(gateUp.get(FLOAT, in + 8 * i + 4), -limit, limit);
                float glu = gate / (1f + (float) Math.exp(-alpha * gate));
                out.set(FLOAT, at + 4 * i, (up + 1f) * glu);
            }
        }
    }
}

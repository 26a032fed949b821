package ai.parallax.server.cluster;

import ai.parallax.kernels.vulkan.VulkanDeviceInfo;
import ai.parallax.kernels.vulkan.VulkanOps;
import ai.parallax.tensors.ops.Ops;
import java.lang.management.ManagementFactory;
import java.util.Locale;

/**
 * What a node offers the cluster: its free memory and, from a short micro-benchmark, its matrix throughput and memory
 * read bandwidth. The scheduler only compares nodes' numbers with each other, so plain Java loops (which the JIT
 * vectorises) measure well enough.
 *
 * <p>A node whose kernels run on a GPU ({@code join --device vulkan}) offers the GPU's device memory, where its
 * weights and KV cache live, and its speed is measured on the GPU itself.
 *
 * @param memoryBytes free physical memory (GPU: device-local memory), or what {@code --memory} limits it to
 * @param gflops      f32 matrix × vector throughput (GPU: BF16 weights)
 * @param gbPerSecond streaming read bandwidth
 * @param device      where the kernels run: {@code "cpu"}, or the GPU's name and memory
 */
public record HardwareProbe(long memoryBytes, double gflops, double gbPerSecond, String device) {

    public HardwareProbe(long memoryBytes, double gflops, double gbPerSecond) {
        this(memoryBytes, gflops, gbPerSecond, "cpu");
    }

    /** Measures the device {@code ops} runs on: a Vulkan GPU, or else this machine's CPU and memory. */
    public static HardwareProbe measure(Long memoryLimit, long millis, Ops ops) {
        if (!(ops instanceof VulkanOps gpu)) {
            return measure(memoryLimit, millis);
        }
        VulkanDeviceInfo info = gpu.device();
        long memory = memoryLimit != null ? Math.min(memoryLimit, info.deviceLocalBytes()) : info.deviceLocalBytes();
        VulkanOps.Throughput speed = gpu.measureMatvec(millis);
        return new HardwareProbe(memory, speed.gflops(), speed.gbPerSecond(), String.format(Locale.ROOT,
                "%s (Vulkan, %.1f GiB)", info.name(), info.deviceLocalBytes() / (double) (1L << 30)));
    }

    /** Measures for about {@code millis} milliseconds in all. */
    public static HardwareProbe measure(Long memoryLimit, long millis) {
        long free = freeMemory();
        long memory = memoryLimit != null ? memoryLimit : free;
        return new HardwareProbe(memory, matmulGflops(millis / 2), bandwidth(millis / 2));
    }

    public static long freeMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getFreeMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }

    private static double matmulGflops(long millis) {
        int n = 512;
        float[] w = new float[n * n];
        float[] x = new float[n];
        float[] y = new float[n];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i % 7) * 0.01f;
        }
        java.util.Arrays.fill(x, 1f);
        long end = System.nanoTime() + millis * 1_000_000;
        long start = System.nanoTime();
        long flops = 0;
        float sink = 0;
        while (System.nanoTime() < end) {
            for (int r = 0; r < n; r++) {
                float acc = 0;
                int base = r * n;
                for (int c = 0; c < n; c++) {
                    acc += w[base + c] * x[c];
                }
                y[r] = acc;
            }
            sink += y[n / 2];
            flops += 2L * n * n;
        }
        double seconds = Math.max(1e-9, (System.nanoTime() - start) / 1e9);
        return sink == Float.MIN_VALUE ? 0 : flops / seconds / 1e9;
    }

    private static double bandwidth(long millis) {
        long[] data = new long[4 << 20]; // 32 MiB: larger than caches
        for (int i = 0; i < data.length; i++) {
            data[i] = i;
        }
        long end = System.nanoTime() + millis * 1_000_000;
        long start = System.nanoTime();
        long bytes = 0;
        long sum = 0;
        while (System.nanoTime() < end) {
            for (long v : data) {
                sum += v;
            }
            bytes += data.length * 8L;
        }
        double seconds = Math.max(1e-9, (System.nanoTime() - start) / 1e9);
        return sum == 42 ? 0 : bytes / seconds / 1e9;
    }
}

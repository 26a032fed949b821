package ai.parallax.server.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.kernels.vulkan.VulkanOps;
import org.junit.jupiter.api.Test;

/** What {@code join --device} reports to the scheduler: the device the node's kernels run on, and its memory. */
class HardwareProbeTest {

    @Test
    void gpuNodeOffersItsDeviceMemoryAndNamesItsGpu() {
        try (VulkanOps gpu = VulkanOps.open()) {
            long deviceMemory = gpu.device().deviceLocalBytes();
            HardwareProbe probe = HardwareProbe.measure(null, 100, gpu);
            assertThat(probe.memoryBytes()).isEqualTo(deviceMemory);
            assertThat(probe.device()).contains(gpu.device().name()).contains("Vulkan");
            assertThat(probe.gflops()).isPositive();
            assertThat(probe.gbPerSecond()).isPositive();
            assertThat(gpu.weightBytesOnDevice()).as("the probe's weight is freed").isZero();

            HardwareProbe limited = HardwareProbe.measure(deviceMemory / 2, 50, gpu);
            assertThat(limited.memoryBytes()).isEqualTo(deviceMemory / 2);
            HardwareProbe beyond = HardwareProbe.measure(deviceMemory * 2, 50, gpu);
            assertThat(beyond.memoryBytes()).as("no more than the device has").isEqualTo(deviceMemory);
        }
    }

    @Test
    void cpuNodeOffersHostMemory() {
        try (SimdOps cpu = new SimdOps(1)) {
            HardwareProbe probe = HardwareProbe.measure(1L << 30, 100, cpu);
            assertThat(probe.device()).isEqualTo("cpu");
            assertThat(probe.memoryBytes()).isEqualTo(1L << 30);
            assertThat(probe.gflops()).isPositive();
        }
    }
}

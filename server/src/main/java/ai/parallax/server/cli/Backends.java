package ai.parallax.server.cli;

import ai.parallax.kernels.simd.CpuTopology;
import ai.parallax.kernels.simd.SimdOps;
import ai.parallax.kernels.vulkan.VulkanDeviceInfo;
import ai.parallax.kernels.vulkan.VulkanDevices;
import ai.parallax.kernels.vulkan.VulkanOps;
import ai.parallax.server.UserError;
import ai.parallax.tensors.ops.Ops;

import java.util.List;
import java.util.Optional;

/** Opens the kernel backend that {@code --device cpu|vulkan|auto} names. */
final class Backends {
    private Backends() {
    }

    /**
     * The backend for {@code device}: the CPU (Vector API, {@code threads} workers or one per physical core), or a Vulkan
     * device. {@code auto} takes a discrete GPU when there is one, else the CPU.
     */
    static Ops open(String device, Integer threads) {
        VulkanDevices.Choice choice;
        try {
            choice = VulkanDevices.Choice.parse(device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        List<VulkanDeviceInfo> devices = choice == VulkanDevices.Choice.CPU ? List.of()
                : choice == VulkanDevices.Choice.VULKAN ? VulkanDevices.list() : VulkanDevices.listOrEmpty();
        Optional<VulkanDeviceInfo> gpu = VulkanDevices.select(choice, devices);
        if (gpu.isPresent()) {
            return VulkanOps.open(gpu.get().index());
        }
        return new SimdOps(threads == null ? CpuTopology.physicalCores() : threads);
    }
}

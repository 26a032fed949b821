package ai.parallax.kernels.vulkan;

/**
 * What a node reports about one Vulkan device: enough for a person choosing {@code --device} and for a scheduler
 * weighing the node's memory.
 *
 * @param index                   position in the driver's enumeration; {@link VulkanOps#open(int)} takes it
 * @param name                    the driver's device name, e.g. {@code "NVIDIA H100 80GB HBM3"} or {@code "llvmpipe"}
 * @param type                    discrete, integrated, virtual GPU, or a CPU implementation
 * @param vendorId                PCI vendor id (0x10de NVIDIA, 0x1002 AMD, 0x8086 Intel, 0x106b Apple)
 * @param apiVersion              Vulkan version the driver offers, e.g. {@code "1.3.230"}
 * @param deviceLocalBytes        size of the largest device-local memory heap
 * @param subgroupSize            lanes of a subgroup (warp / wavefront / SIMD width)
 * @param maxStorageBufferRange   the largest storage buffer a shader may bind; bigger weights are split
 * @param maxWorkgroupInvocations threads per workgroup at most
 * @param maxSharedMemoryBytes    workgroup shared memory at most
 * @param pushDescriptors         whether VK_KHR_push_descriptor is present (the backend requires it)
 */
public record VulkanDeviceInfo(int index, String name, Type type, int vendorId, String apiVersion,
                               long deviceLocalBytes, int subgroupSize, long maxStorageBufferRange,
                               int maxWorkgroupInvocations, int maxSharedMemoryBytes, boolean pushDescriptors) {

    /** Vulkan's VkPhysicalDeviceType, in order of preference for inference. */
    public enum Type {
        DISCRETE_GPU, INTEGRATED_GPU, VIRTUAL_GPU, CPU, OTHER;

        static Type of(int vkPhysicalDeviceType) {
            return switch (vkPhysicalDeviceType) {
                case 2 -> DISCRETE_GPU;
                case 1 -> INTEGRATED_GPU;
                case 3 -> VIRTUAL_GPU;
                case 4 -> CPU;
                default -> OTHER;
            };
        }
    }

    /** One line for a device listing. */
    public String describe() {
        return String.format("#%d %s (%s, Vulkan %s): %.1f GiB device memory, subgroup %d, "
                        + "max storage buffer %d MiB, %d threads/workgroup, %d KiB shared%s",
                index, name, type.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '), apiVersion,
                deviceLocalBytes / (double) (1L << 30), subgroupSize, maxStorageBufferRange >> 20,
                maxWorkgroupInvocations, maxSharedMemoryBytes >> 10, pushDescriptors ? "" : ", NO push descriptors");
    }
}

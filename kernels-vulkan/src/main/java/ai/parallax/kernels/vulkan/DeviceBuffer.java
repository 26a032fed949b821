package ai.parallax.kernels.vulkan;

import java.lang.foreign.MemorySegment;

/**
 * A VkBuffer with its own VkDeviceMemory.
 *
 * @param buffer the VkBuffer handle, bound whole to a shader's storage-buffer slot
 * @param memory the VkDeviceMemory handle
 * @param size   bytes, a multiple of 16
 * @param mapped the host mapping when the memory is host-visible, else null
 */
record DeviceBuffer(long buffer, long memory, long size, MemorySegment mapped) {
}

package ai.parallax.kernels.vulkan;

import static ai.parallax.kernels.vulkan.VulkanException.check;
import static org.lwjgl.system.MemoryStack.stackPush;
import static org.lwjgl.vulkan.VK10.*;
import static org.lwjgl.vulkan.VK11.vkGetPhysicalDeviceProperties2;

import java.lang.foreign.MemorySegment;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.List;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.vulkan.KHRPortabilityEnumeration;
import org.lwjgl.vulkan.KHRPushDescriptor;
import org.lwjgl.vulkan.VK;
import org.lwjgl.vulkan.VkApplicationInfo;
import org.lwjgl.vulkan.VkBufferCreateInfo;
import org.lwjgl.vulkan.VkDevice;
import org.lwjgl.vulkan.VkDeviceCreateInfo;
import org.lwjgl.vulkan.VkDeviceQueueCreateInfo;
import org.lwjgl.vulkan.VkExtensionProperties;
import org.lwjgl.vulkan.VkInstance;
import org.lwjgl.vulkan.VkInstanceCreateInfo;
import org.lwjgl.vulkan.VkMemoryAllocateInfo;
import org.lwjgl.vulkan.VkMemoryRequirements;
import org.lwjgl.vulkan.VkPhysicalDevice;
import org.lwjgl.vulkan.VkPhysicalDeviceLimits;
import org.lwjgl.vulkan.VkPhysicalDeviceMemoryProperties;
import org.lwjgl.vulkan.VkPhysicalDeviceProperties2;
import org.lwjgl.vulkan.VkPhysicalDeviceSubgroupProperties;
import org.lwjgl.vulkan.VkQueue;
import org.lwjgl.vulkan.VkQueueFamilyProperties;

/**
 * One Vulkan instance and logical device with a compute queue, and the memory types the backend allocates from.
 * Everything that needs a Vulkan handle goes through here; it knows nothing about tensors.
 */
final class VulkanContext implements AutoCloseable {
    /** Memory the GPU reads at full speed. */
    static final int DEVICE_LOCAL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    /** Memory the host maps and writes without explicit flushes. */
    static final int HOST_COHERENT = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;

    final VkInstance instance;
    final VkPhysicalDevice physical;
    final VkDevice device;
    final VkQueue queue;
    final int queueFamily;
    final VulkanDeviceInfo info;
    private final int[] memoryTypeFlags;
    private final long minStorageOffsetAlignment;

    private VulkanContext(VkInstance instance, VkPhysicalDevice physical, VulkanDeviceInfo info) {
        this.instance = instance;
        this.physical = physical;
        this.info = info;
        try (MemoryStack stack = stackPush()) {
            VkPhysicalDeviceMemoryProperties memory = VkPhysicalDeviceMemoryProperties.calloc(stack);
            vkGetPhysicalDeviceMemoryProperties(physical, memory);
            memoryTypeFlags = new int[memory.memoryTypeCount()];
            for (int i = 0; i < memoryTypeFlags.length; i++) {
                memoryTypeFlags[i] = memory.memoryTypes(i).propertyFlags();
            }
            VkPhysicalDeviceProperties2 props = VkPhysicalDeviceProperties2.calloc(stack).sType$Default();
            vkGetPhysicalDeviceProperties2(physical, props);
            minStorageOffsetAlignment = props.properties().limits().minStorageBufferOffsetAlignment();

            queueFamily = computeQueueFamily(physical, stack);
            VkDeviceQueueCreateInfo.Buffer queues = VkDeviceQueueCreateInfo.calloc(1, stack).sType$Default()
                    .queueFamilyIndex(queueFamily).pQueuePriorities(stack.floats(1f));
            VkDeviceCreateInfo create = VkDeviceCreateInfo.calloc(stack).sType$Default().pQueueCreateInfos(queues)
                    .ppEnabledExtensionNames(stack.pointers(stack.UTF8(KHRPushDescriptor.VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME)));
            PointerBuffer handle = stack.mallocPointer(1);
            check(vkCreateDevice(physical, create, null, handle), "vkCreateDevice on " + info.name());
            device = new VkDevice(handle.get(0), physical, create);
            vkGetDeviceQueue(device, queueFamily, 0, handle);
            queue = new VkQueue(handle.get(0), device);
        }
    }

    /**
     * Opens device {@code index} of {@link #enumerate()}, or the preferred one when {@code index < 0}.
     *
     * @throws VulkanException naming what is missing: the loader library, a driver, a device, an extension
     */
    static VulkanContext open(int index) {
        VkInstance instance = createInstance();
        try {
            List<VulkanDeviceInfo> devices = describeAll(instance);
            if (devices.isEmpty()) {
                throw new VulkanException("Vulkan: the loader found no device. Install a GPU driver or, for a CPU "
                        + "fallback, Mesa's lavapipe (Debian/Ubuntu: apt-get install mesa-vulkan-drivers)");
            }
            VulkanDeviceInfo chosen;
            if (index < 0) {
                chosen = VulkanDevices.best(devices).orElseThrow();
            } else if (index < devices.size()) {
                chosen = devices.get(index);
            } else {
                throw new VulkanException("Vulkan: no device #" + index + "; there are " + devices.size() + ": "
                        + devices.stream().map(VulkanDeviceInfo::name).toList());
            }
            if (!chosen.pushDescriptors()) {
                throw new VulkanException("Vulkan device " + chosen.name() + " lacks VK_KHR_push_descriptor, "
                        + "which this backend needs");
            }
            return new VulkanContext(instance, physicalDevices(instance).get(chosen.index()), chosen);
        } catch (RuntimeException e) {
            vkDestroyInstance(instance, null);
            throw e;
        }
    }

    /** Describes every device of a fresh instance, then destroys it. */
    static List<VulkanDeviceInfo> enumerate() {
        VkInstance instance = createInstance();
        try {
            return describeAll(instance);
        } finally {
            vkDestroyInstance(instance, null);
        }
    }

    private static VkInstance createInstance() {
        try {
            VK.getFunctionProvider();
        } catch (Throwable e) {
            throw new VulkanException("Vulkan: the loader library (libvulkan.so.1 on Linux, libvulkan.1.dylib / "
                    + "MoltenVK on macOS, vulkan-1.dll on Windows) could not be loaded: " + e.getMessage()
                    + ". Install it (Debian/Ubuntu: apt-get install libvulkan1)", e);
        }
        try (MemoryStack stack = stackPush()) {
            // MoltenVK is a "portability" implementation, listed only when the application asks for such devices.
            boolean portability = instanceExtensionPresent(stack,
                    KHRPortabilityEnumeration.VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
            VkApplicationInfo app = VkApplicationInfo.calloc(stack).sType$Default()
                    .pApplicationName(stack.UTF8("parallax")).pEngineName(stack.UTF8("parallax"))
                    .apiVersion(VK.getInstanceVersionSupported());
            VkInstanceCreateInfo create = VkInstanceCreateInfo.calloc(stack).sType$Default().pApplicationInfo(app);
            if (portability) {
                create.flags(KHRPortabilityEnumeration.VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR)
                        .ppEnabledExtensionNames(stack.pointers(stack.UTF8(
                                KHRPortabilityEnumeration.VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)));
            }
            PointerBuffer handle = stack.mallocPointer(1);
            int result = vkCreateInstance(create, null, handle);
            if (result == VK_ERROR_INCOMPATIBLE_DRIVER) {
                throw new VulkanException("Vulkan: no usable driver (ICD) found (vkCreateInstance returned "
                        + "VK_ERROR_INCOMPATIBLE_DRIVER). Install a GPU driver or Mesa's lavapipe "
                        + "(apt-get install mesa-vulkan-drivers); check VK_ICD_FILENAMES / VK_DRIVER_FILES if set");
            }
            check(result, "vkCreateInstance");
            return new VkInstance(handle.get(0), create);
        }
    }

    private static boolean instanceExtensionPresent(MemoryStack stack, String name) {
        IntBuffer count = stack.mallocInt(1);
        if (vkEnumerateInstanceExtensionProperties((String) null, count, null) != VK_SUCCESS) {
            return false;
        }
        VkExtensionProperties.Buffer props = VkExtensionProperties.malloc(count.get(0), stack);
        vkEnumerateInstanceExtensionProperties((String) null, count, props);
        for (VkExtensionProperties p : props) {
            if (p.extensionNameString().equals(name)) {
                return true;
            }
        }
        return false;
    }

    private static List<VkPhysicalDevice> physicalDevices(VkInstance instance) {
        try (MemoryStack stack = stackPush()) {
            IntBuffer count = stack.mallocInt(1);
            check(vkEnumeratePhysicalDevices(instance, count, null), "vkEnumeratePhysicalDevices");
            PointerBuffer handles = stack.mallocPointer(count.get(0));
            check(vkEnumeratePhysicalDevices(instance, count, handles), "vkEnumeratePhysicalDevices");
            List<VkPhysicalDevice> devices = new ArrayList<>();
            for (int i = 0; i < count.get(0); i++) {
                devices.add(new VkPhysicalDevice(handles.get(i), instance));
            }
            return devices;
        }
    }

    private static List<VulkanDeviceInfo> describeAll(VkInstance instance) {
        List<VkPhysicalDevice> devices = physicalDevices(instance);
        List<VulkanDeviceInfo> infos = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) {
            infos.add(describe(i, devices.get(i)));
        }
        return infos;
    }

    private static VulkanDeviceInfo describe(int index, VkPhysicalDevice physical) {
        try (MemoryStack stack = stackPush()) {
            VkPhysicalDeviceSubgroupProperties subgroup = VkPhysicalDeviceSubgroupProperties.calloc(stack)
                    .sType$Default();
            VkPhysicalDeviceProperties2 props = VkPhysicalDeviceProperties2.calloc(stack).sType$Default()
                    .pNext(subgroup.address());
            vkGetPhysicalDeviceProperties2(physical, props);
            VkPhysicalDeviceLimits limits = props.properties().limits();
            VkPhysicalDeviceMemoryProperties memory = VkPhysicalDeviceMemoryProperties.calloc(stack);
            vkGetPhysicalDeviceMemoryProperties(physical, memory);
            long deviceLocal = 0;
            for (int h = 0; h < memory.memoryHeapCount(); h++) {
                if ((memory.memoryHeaps(h).flags() & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0) {
                    deviceLocal = Math.max(deviceLocal, memory.memoryHeaps(h).size());
                }
            }
            IntBuffer count = stack.mallocInt(1);
            vkEnumerateDeviceExtensionProperties(physical, (String) null, count, null);
            VkExtensionProperties.Buffer extensions = VkExtensionProperties.malloc(count.get(0), stack);
            vkEnumerateDeviceExtensionProperties(physical, (String) null, count, extensions);
            boolean push = false;
            for (VkExtensionProperties e : extensions) {
                push |= e.extensionNameString().equals(KHRPushDescriptor.VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
            }
            int api = props.properties().apiVersion();
            String version = VK_VERSION_MAJOR(api) + "." + VK_VERSION_MINOR(api) + "." + VK_VERSION_PATCH(api);
            return new VulkanDeviceInfo(index, props.properties().deviceNameString(),
                    VulkanDeviceInfo.Type.of(props.properties().deviceType()), props.properties().vendorID(), version,
                    deviceLocal, subgroup.subgroupSize(), Integer.toUnsignedLong(limits.maxStorageBufferRange()),
                    limits.maxComputeWorkGroupInvocations(), limits.maxComputeSharedMemorySize(), push);
        }
    }

    private static int computeQueueFamily(VkPhysicalDevice physical, MemoryStack stack) {
        IntBuffer count = stack.mallocInt(1);
        vkGetPhysicalDeviceQueueFamilyProperties(physical, count, null);
        VkQueueFamilyProperties.Buffer families = VkQueueFamilyProperties.malloc(count.get(0), stack);
        vkGetPhysicalDeviceQueueFamilyProperties(physical, count, families);
        for (int i = 0; i < families.capacity(); i++) {
            if ((families.get(i).queueFlags() & VK_QUEUE_COMPUTE_BIT) != 0) {
                return i;
            }
        }
        throw new VulkanException("Vulkan device has no compute queue");
    }

    /** Alignment of storage-buffer offsets (the backend binds whole buffers, so it only matters for sub-buffers). */
    long minStorageOffsetAlignment() {
        return minStorageOffsetAlignment;
    }

    /** Whether some memory type is both device-local and host-mappable (UMA, resizable BAR, lavapipe). */
    boolean hasMappableDeviceMemory() {
        for (int flags : memoryTypeFlags) {
            if ((flags & (DEVICE_LOCAL | HOST_COHERENT)) == (DEVICE_LOCAL | HOST_COHERENT)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Creates a storage buffer of {@code bytes} in memory with all of {@code required} flags, mapping it when the
     * memory is host-visible.
     *
     * @throws VulkanException when no memory type fits or the allocation fails (the message names {@code what})
     */
    DeviceBuffer createBuffer(long bytes, int required, String what) {
        long size = Math.max(16, (bytes + 15) & ~15L);
        try (MemoryStack stack = stackPush()) {
            VkBufferCreateInfo create = VkBufferCreateInfo.calloc(stack).sType$Default().size(size)
                    .usage(VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT
                            | VK_BUFFER_USAGE_TRANSFER_DST_BIT)
                    .sharingMode(VK_SHARING_MODE_EXCLUSIVE);
            java.nio.LongBuffer handle = stack.mallocLong(1);
            check(vkCreateBuffer(device, create, null, handle), "vkCreateBuffer for " + what);
            long buffer = handle.get(0);
            VkMemoryRequirements requirements = VkMemoryRequirements.calloc(stack);
            vkGetBufferMemoryRequirements(device, buffer, requirements);
            int type = memoryType(requirements.memoryTypeBits(), required);
            if (type < 0) {
                vkDestroyBuffer(device, buffer, null);
                throw new VulkanException("Vulkan: no memory type with flags 0x" + Integer.toHexString(required)
                        + " for " + what + " on " + info.name());
            }
            VkMemoryAllocateInfo allocate = VkMemoryAllocateInfo.calloc(stack).sType$Default()
                    .allocationSize(requirements.size()).memoryTypeIndex(type);
            int result = vkAllocateMemory(device, allocate, null, handle);
            if (result != VK_SUCCESS) {
                vkDestroyBuffer(device, buffer, null);
                throw new VulkanException("Vulkan: allocating " + size + " bytes for " + what + " on " + info.name()
                        + " failed: " + VulkanException.resultName(result));
            }
            long memory = handle.get(0);
            check(vkBindBufferMemory(device, buffer, memory, 0), "vkBindBufferMemory for " + what);
            MemorySegment mapped = null;
            if ((memoryTypeFlags[type] & HOST_COHERENT) == HOST_COHERENT) {
                PointerBuffer pointer = stack.mallocPointer(1);
                check(vkMapMemory(device, memory, 0, VK_WHOLE_SIZE, 0, pointer), "vkMapMemory for " + what);
                mapped = MemorySegment.ofAddress(pointer.get(0)).reinterpret(size);
            }
            return new DeviceBuffer(buffer, memory, size, mapped);
        }
    }

    private int memoryType(int allowedTypes, int required) {
        for (int i = 0; i < memoryTypeFlags.length; i++) {
            if ((allowedTypes & (1 << i)) != 0 && (memoryTypeFlags[i] & required) == required) {
                return i;
            }
        }
        return -1;
    }

    void destroy(DeviceBuffer buffer) {
        if (buffer.mapped() != null) {
            vkUnmapMemory(device, buffer.memory());
        }
        vkDestroyBuffer(device, buffer.buffer(), null);
        vkFreeMemory(device, buffer.memory(), null);
    }

    @Override
    public void close() {
        vkDeviceWaitIdle(device);
        vkDestroyDevice(device, null);
        vkDestroyInstance(instance, null);
    }
}

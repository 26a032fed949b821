package ai.parallax.kernels.vulkan;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Lists the machine's Vulkan devices and implements {@code --device cpu|vulkan|auto}: the CLI parses the flag with
 * {@link Choice#parse}, then asks {@link #select} which Vulkan device, if any, to open with {@link VulkanOps#open(int)}.
 */
public final class VulkanDevices {
    private VulkanDevices() {
    }

    /** What {@code --device} asks for. */
    public enum Choice {
        /** The CPU backend, whatever GPUs exist. */
        CPU,
        /** A Vulkan device, the best one present; failing when there is none. */
        VULKAN,
        /** A discrete GPU when one is present, else the CPU backend. */
        AUTO;

        public static Choice parse(String value) {
            return switch (value.toLowerCase(Locale.ROOT)) {
                case "cpu" -> CPU;
                case "vulkan", "gpu" -> VULKAN;
                case "auto" -> AUTO;
                default -> throw new IllegalArgumentException("--device " + value + ": expected cpu, vulkan or auto");
            };
        }
    }

    /**
     * Every Vulkan device the loader finds, in the driver's order.
     *
     * @throws VulkanException when the Vulkan loader or any driver is missing
     */
    public static List<VulkanDeviceInfo> list() {
        return VulkanContext.enumerate();
    }

    /**
     * As {@link #list()}, but an empty list where Vulkan is not installed at all: what {@code auto} and a node's
     * capability report use, where the absence of a GPU is normal.
     */
    public static List<VulkanDeviceInfo> listOrEmpty() {
        try {
            return list();
        } catch (VulkanException | LinkageError e) {
            return List.of();
        }
    }

    /**
     * The device a choice resolves to among {@code devices}: empty means the CPU backend.
     *
     * @throws VulkanException for {@link Choice#VULKAN} when no device is usable
     */
    public static Optional<VulkanDeviceInfo> select(Choice choice, List<VulkanDeviceInfo> devices) {
        return switch (choice) {
            case CPU -> Optional.empty();
            case AUTO -> best(devices).filter(d -> d.type() == VulkanDeviceInfo.Type.DISCRETE_GPU);
            case VULKAN -> Optional.of(best(devices).orElseThrow(() -> new VulkanException(
                    "--device vulkan: no usable Vulkan device (found " + devices.size() + ": "
                            + devices.stream().map(VulkanDeviceInfo::name).toList() + ")")));
        };
    }

    /**
     * The device inference should run on: discrete before integrated before virtual GPUs before CPU drivers, then
     * the most device memory. Devices without push descriptors are unusable.
     */
    public static Optional<VulkanDeviceInfo> best(List<VulkanDeviceInfo> devices) {
        return devices.stream().filter(VulkanDeviceInfo::pushDescriptors)
                .min(Comparator.comparing(VulkanDeviceInfo::type)
                        .thenComparing(Comparator.comparingLong(VulkanDeviceInfo::deviceLocalBytes).reversed()));
    }

    /** Prints the device listing: {@code java -cp … ai.parallax.kernels.vulkan.VulkanDevices}. */
    public static void main(String[] args) {
        for (VulkanDeviceInfo d : list()) {
            System.out.println(d.describe());
        }
    }
}

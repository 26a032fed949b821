package ai.parallax.kernels.vulkan;

/** A Vulkan backend failure: a missing loader or device, a failed Vulkan call, a shader that does not compile. */
public final class VulkanException extends RuntimeException {
    public VulkanException(String message) {
        super(message);
    }

    public VulkanException(String message, Throwable cause) {
        super(message, cause);
    }

    /** Throws when a Vulkan call did not return VK_SUCCESS, naming the call and the result code. */
    static void check(int result, String call) {
        if (result != 0) {
            throw new VulkanException(call + " failed: " + resultName(result));
        }
    }

    static String resultName(int result) {
        return switch (result) {
            case -1 -> "VK_ERROR_OUT_OF_HOST_MEMORY";
            case -2 -> "VK_ERROR_OUT_OF_DEVICE_MEMORY";
            case -3 -> "VK_ERROR_INITIALIZATION_FAILED";
            case -4 -> "VK_ERROR_DEVICE_LOST";
            case -5 -> "VK_ERROR_MEMORY_MAP_FAILED";
            case -6 -> "VK_ERROR_LAYER_NOT_PRESENT";
            case -7 -> "VK_ERROR_EXTENSION_NOT_PRESENT";
            case -8 -> "VK_ERROR_FEATURE_NOT_PRESENT";
            case -9 -> "VK_ERROR_INCOMPATIBLE_DRIVER";
            case -10 -> "VK_ERROR_TOO_MANY_OBJECTS";
            case -11 -> "VK_ERROR_FORMAT_NOT_SUPPORTED";
            case 2 -> "VK_TIMEOUT";
            default -> "VkResult " + result;
        };
    }
}

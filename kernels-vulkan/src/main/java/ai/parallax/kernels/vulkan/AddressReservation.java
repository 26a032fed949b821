package ai.parallax.kernels.vulkan;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;

/**
 * Reserves host address ranges that no memory backs, to name tensors whose bytes live only in GPU memory. A
 * {@link ai.parallax.tensors.Tensor} is a view over a {@link MemorySegment}; for a device-local buffer that the host
 * cannot map, the backend gives the tensor a segment over a reserved range, so each tensor (and each row view of
 * it) still has a unique address the backend maps back to its buffer. The pages are {@code PROT_NONE}: touching
 * them from Java faults instead of reading someone else's memory.
 */
final class AddressReservation {
    private static final boolean LINUX = System.getProperty("os.name").toLowerCase(Locale.ROOT).contains("linux");
    private static final int PROT_NONE = 0;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = LINUX ? 0x20 : 0x1000;
    private static final int MAP_NORESERVE = LINUX ? 0x4000 : 0x40;
    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;

    static {
        Linker linker = Linker.nativeLinker();
        MMAP = linker.defaultLookup().find("mmap").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(
                ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG))).orElse(null);
        MUNMAP = linker.defaultLookup().find("munmap").map(f -> linker.downcallHandle(f, FunctionDescriptor.of(
                ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG))).orElse(null);
    }

    private AddressReservation() {
    }

    /** A segment of {@code bytes} over reserved, inaccessible addresses. */
    static MemorySegment reserve(long bytes) {
        if (MMAP == null) {
            throw new VulkanException("cannot reserve address space on " + System.getProperty("os.name")
                    + " (no mmap); use host-visible device memory for activations");
        }
        long size = Math.max(bytes, 1);
        try {
            MemorySegment at = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, size, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0L);
            if (at.address() == -1L || at.address() == 0) {
                throw new VulkanException("mmap could not reserve " + size + " bytes of address space");
            }
            return at.reinterpret(bytes);
        } catch (VulkanException e) {
            throw e;
        } catch (Throwable e) {
            throw new VulkanException("mmap failed reserving " + size + " bytes", e);
        }
    }

    static void release(MemorySegment reserved) {
        try {
            int ignored = (int) MUNMAP.invokeExact(MemorySegment.ofAddress(reserved.address()),
                    Math.max(reserved.byteSize(), 1));
        } catch (Throwable e) {
            throw new VulkanException("munmap failed", e);
        }
    }
}

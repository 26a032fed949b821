package ai.parallax.kernels.vulkan;

import static ai.parallax.kernels.vulkan.VulkanException.check;
import static org.lwjgl.system.MemoryStack.stackPush;
import static org.lwjgl.vulkan.VK10.*;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.IntBuffer;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.vulkan.KHRPushDescriptor;
import org.lwjgl.vulkan.VkBufferCopy;
import org.lwjgl.vulkan.VkCommandBuffer;
import org.lwjgl.vulkan.VkCommandBufferAllocateInfo;
import org.lwjgl.vulkan.VkCommandBufferBeginInfo;
import org.lwjgl.vulkan.VkCommandPoolCreateInfo;
import org.lwjgl.vulkan.VkDescriptorBufferInfo;
import org.lwjgl.vulkan.VkFenceCreateInfo;
import org.lwjgl.vulkan.VkMemoryBarrier;
import org.lwjgl.vulkan.VkSubmitInfo;
import org.lwjgl.vulkan.VkWriteDescriptorSet;

/**
 * Records the operations of a step into one command buffer and submits it only when the host needs a result
 * ({@link #submit()}). Between commands it inserts a pipeline barrier only where a command touches a buffer that an
 * earlier command since the last barrier wrote, or writes a buffer one of them read: the q, k and v projections of
 * a layer, for instance, run without barriers between them.
 *
 * <p>Small host arrays a command needs (token ids, positions) are copied into a host-visible argument ring when
 * the command is recorded; the ring is reused after each submit.
 *
 * <p>Usage per command: {@link #begin}, {@link #bind} each buffer in binding order, {@link #push} the scalar
 * arguments, {@link #dispatch}.
 */
final class CommandRecorder implements AutoCloseable {
    private static final int MAX_TRACKED = 64;
    private static final int ARGUMENT_INTS = 1 << 16;

    private final VulkanContext context;
    private final long commandPool;
    private final VkCommandBuffer commands;
    private final long fence;
    private final DeviceBuffer arguments;
    private int argumentsUsed;
    /** Arguments were staged for a command that is not recorded yet. */
    private boolean awaitingDispatch;
    private boolean recording;
    private int recordedSinceSubmit;
    private long submits;
    private long dispatches;
    private long recorded;

    // Buffers read and written since the last barrier.
    private final long[] readSet = new long[MAX_TRACKED];
    private final long[] writeSet = new long[MAX_TRACKED];
    private int reads;
    private int writes;

    // The command being built.
    private ComputeKernel kernel;
    private final long[] bound = new long[8];
    private final boolean[] boundWritten = new boolean[8];
    private int boundCount;
    private final int[] pushed = new int[ComputeKernel.MAX_PUSH_INTS];
    private int pushedCount;

    CommandRecorder(VulkanContext context) {
        this.context = context;
        try (MemoryStack stack = stackPush()) {
            java.nio.LongBuffer handle = stack.mallocLong(1);
            check(vkCreateCommandPool(context.device, VkCommandPoolCreateInfo.calloc(stack).sType$Default()
                    .flags(VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT).queueFamilyIndex(context.queueFamily),
                    null, handle), "vkCreateCommandPool");
            commandPool = handle.get(0);
            PointerBuffer buffer = stack.mallocPointer(1);
            check(vkAllocateCommandBuffers(context.device, VkCommandBufferAllocateInfo.calloc(stack).sType$Default()
                    .commandPool(commandPool).level(VK_COMMAND_BUFFER_LEVEL_PRIMARY).commandBufferCount(1), buffer),
                    "vkAllocateCommandBuffers");
            commands = new VkCommandBuffer(buffer.get(0), context.device);
            check(vkCreateFence(context.device, VkFenceCreateInfo.calloc(stack).sType$Default(), null, handle),
                    "vkCreateFence");
            fence = handle.get(0);
        }
        arguments = context.createBuffer(4L * ARGUMENT_INTS, VulkanContext.HOST_COHERENT, "argument ring");
    }

    /** The argument ring's buffer, to bind where a command reads what {@link #stage} wrote. */
    DeviceBuffer arguments() {
        return arguments;
    }

    /**
     * Copies {@code count} ints into the argument ring for a command about to be recorded, and returns their
     * element offset there. Call it before {@link #begin}: a full ring submits the pending work first.
     */
    int stage(int[] values, int count) {
        return stage(values, 0, count);
    }

    /** As {@link #stage(int[], int)}, for {@code values[from, from + count)}. */
    int stage(int[] values, int from, int count) {
        int offset = stageReserve(count);
        stageAt(offset, values, from, count);
        return offset;
    }

    /**
     * Reserves {@code count} ints of the argument ring for a command about to be recorded and returns their element
     * offset; fill them with {@link #stageAt} before the next {@link #submit}. Call it before {@link #begin}: a full
     * ring submits the pending work first.
     */
    int stageReserve(int count) {
        if (count > ARGUMENT_INTS) {
            throw new IllegalArgumentException(count + " arguments exceed the argument ring of " + ARGUMENT_INTS);
        }
        if (argumentsUsed + count > ARGUMENT_INTS) {
            submit();
        }
        int offset = argumentsUsed;
        // Keep later ranges 16-byte aligned, as some drivers like them.
        argumentsUsed += (count + 3) & ~3;
        awaitingDispatch = true;
        return offset;
    }

    /** Writes {@code values[0, count)} at element {@code offset} of the ring (reserved by {@link #stageReserve}). */
    void stageAt(int offset, int[] values, int count) {
        stageAt(offset, values, 0, count);
    }

    void stageAt(int offset, int[] values, int from, int count) {
        MemorySegment.copy(values, from, arguments.mapped(), ValueLayout.JAVA_INT, 4L * offset, count);
    }

    /** Writes floats' bits at element {@code offset} of the ring (reserved by {@link #stageReserve}). */
    void stageFloatsAt(int offset, float[] values, int from, int count) {
        MemorySegment.copy(values, from, arguments.mapped(), ValueLayout.JAVA_FLOAT, 4L * offset, count);
    }

    void begin(ComputeKernel kernel) {
        this.kernel = kernel;
        boundCount = 0;
        pushedCount = 0;
    }

    void bind(DeviceBuffer buffer, boolean written) {
        bound[boundCount] = buffer.buffer();
        boundWritten[boundCount] = written;
        boundCount++;
    }

    void push(int value) {
        pushed[pushedCount++] = value;
    }

    void push(long value) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("kernel " + kernel.name + ": argument " + value
                    + " does not fit the shader's 32-bit unsigned index");
        }
        pushed[pushedCount++] = (int) value;
    }

    void push(float value) {
        pushed[pushedCount++] = Float.floatToRawIntBits(value);
    }

    /** Records the command built since {@link #begin} over a grid of {@code groups} workgroups (folded into x, y). */
    void dispatch(long groups, int z) {
        if (boundCount != kernel.bindings) {
            throw new IllegalStateException("kernel " + kernel.name + " takes " + kernel.bindings + " buffers, got "
                    + boundCount);
        }
        if (groups == 0 || z == 0) {
            awaitingDispatch = false;
            return;
        }
        ensureRecording();
        boolean hazard = false;
        for (int i = 0; i < boundCount; i++) {
            hazard |= contains(writeSet, writes, bound[i]) || (boundWritten[i] && contains(readSet, reads, bound[i]));
        }
        if (hazard || reads + boundCount > MAX_TRACKED || writes + boundCount > MAX_TRACKED) {
            barrier();
        }
        for (int i = 0; i < boundCount; i++) {
            if (boundWritten[i]) {
                writeSet[writes++] = bound[i];
            } else {
                readSet[reads++] = bound[i];
            }
        }
        int x = (int) Math.min(groups, 65535);
        long y = (groups + x - 1) / x;
        try (MemoryStack stack = stackPush()) {
            vkCmdBindPipeline(commands, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.pipeline);
            VkWriteDescriptorSet.Buffer writesInfo = VkWriteDescriptorSet.calloc(boundCount, stack);
            for (int i = 0; i < boundCount; i++) {
                VkDescriptorBufferInfo.Buffer info = VkDescriptorBufferInfo.calloc(1, stack)
                        .buffer(bound[i]).offset(0).range(VK_WHOLE_SIZE);
                writesInfo.get(i).sType$Default().dstBinding(i).descriptorType(VK_DESCRIPTOR_TYPE_STORAGE_BUFFER)
                        .pBufferInfo(info).descriptorCount(1);
            }
            KHRPushDescriptor.vkCmdPushDescriptorSetKHR(commands, VK_PIPELINE_BIND_POINT_COMPUTE,
                    kernel.pipelineLayout, 0, writesInfo);
            if (pushedCount > 0) {
                IntBuffer constants = stack.mallocInt(pushedCount);
                constants.put(pushed, 0, pushedCount).flip();
                vkCmdPushConstants(commands, kernel.pipelineLayout, VK_SHADER_STAGE_COMPUTE_BIT, 0, constants);
            }
            vkCmdDispatch(commands, x, (int) y, z);
        }
        recordedSinceSubmit++;
        recorded++;
        dispatches++;
        awaitingDispatch = false;
    }

    /** Records a buffer-to-buffer copy, ordered after earlier commands that touch either buffer. */
    void copy(DeviceBuffer src, long srcOffset, DeviceBuffer dst, long dstOffset, long bytes) {
        if (bytes == 0) {
            return;
        }
        ensureRecording();
        if (contains(writeSet, writes, src.buffer()) || contains(writeSet, writes, dst.buffer())
                || contains(readSet, reads, dst.buffer()) || reads + 1 > MAX_TRACKED || writes + 1 > MAX_TRACKED) {
            barrier();
        }
        readSet[reads++] = src.buffer();
        writeSet[writes++] = dst.buffer();
        try (MemoryStack stack = stackPush()) {
            vkCmdCopyBuffer(commands, src.buffer(), dst.buffer(),
                    VkBufferCopy.calloc(1, stack).srcOffset(srcOffset).dstOffset(dstOffset).size(bytes));
        }
        recordedSinceSubmit++;
        recorded++;
    }

    /** Records zero-filling a whole buffer. */
    void zero(DeviceBuffer buffer) {
        ensureRecording();
        if (contains(writeSet, writes, buffer.buffer()) || contains(readSet, reads, buffer.buffer())
                || writes + 1 > MAX_TRACKED) {
            barrier();
        }
        writeSet[writes++] = buffer.buffer();
        vkCmdFillBuffer(commands, buffer.buffer(), 0, VK_WHOLE_SIZE, 0);
        recordedSinceSubmit++;
        recorded++;
    }

    /** Whether commands were recorded since the last submit. */
    boolean pending() {
        return recordedSinceSubmit > 0;
    }

    /** Submits the recorded commands and waits for them; afterwards their results are visible to the host. */
    void submit() {
        if (awaitingDispatch) {
            // The ring is reused after a submit: the staged arguments of the command being built would be
            // overwritten by later commands before it runs. Whatever may submit (growing a scratch buffer, uploading
            // a weight) must happen before staging.
            awaitingDispatch = false;
            throw new IllegalStateException("submit between staging a command's arguments and recording it");
        }
        if (!recording) {
            argumentsUsed = 0;
            return;
        }
        try (MemoryStack stack = stackPush()) {
            // Make device writes visible to host reads of mapped memory once the fence signals.
            VkMemoryBarrier.Buffer toHost = VkMemoryBarrier.calloc(1, stack).sType$Default()
                    .srcAccessMask(VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)
                    .dstAccessMask(VK_ACCESS_HOST_READ_BIT);
            vkCmdPipelineBarrier(commands, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                    VK_PIPELINE_STAGE_HOST_BIT, 0, toHost, null, null);
            check(vkEndCommandBuffer(commands), "vkEndCommandBuffer");
            VkSubmitInfo submit = VkSubmitInfo.calloc(stack).sType$Default()
                    .pCommandBuffers(stack.pointers(commands));
            check(vkQueueSubmit(context.queue, submit, fence), "vkQueueSubmit");
            check(vkWaitForFences(context.device, fence, true, -1L), "vkWaitForFences");
            check(vkResetFences(context.device, fence), "vkResetFences");
            check(vkResetCommandBuffer(commands, 0), "vkResetCommandBuffer");
        }
        recording = false;
        recordedSinceSubmit = 0;
        argumentsUsed = 0;
        reads = 0;
        writes = 0;
        submits++;
    }

    /** Submissions so far: with step-wise recording, about one per generated token. */
    long submits() {
        return submits;
    }

    /** Commands of any kind (dispatches, copies, fills) recorded so far: it changes whenever device memory may. */
    long recorded() {
        return recorded;
    }

    /** Compute dispatches recorded so far. */
    long dispatches() {
        return dispatches;
    }

    private void ensureRecording() {
        if (!recording) {
            try (MemoryStack stack = stackPush()) {
                check(vkBeginCommandBuffer(commands, VkCommandBufferBeginInfo.calloc(stack).sType$Default()
                        .flags(VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT)), "vkBeginCommandBuffer");
            }
            recording = true;
        }
    }

    private void barrier() {
        try (MemoryStack stack = stackPush()) {
            VkMemoryBarrier.Buffer memory = VkMemoryBarrier.calloc(1, stack).sType$Default()
                    .srcAccessMask(VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)
                    .dstAccessMask(VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT
                            | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
            int stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
            vkCmdPipelineBarrier(commands, stages, stages, 0, memory, null, null);
        }
        reads = 0;
        writes = 0;
    }

    private static boolean contains(long[] set, int count, long buffer) {
        for (int i = 0; i < count; i++) {
            if (set[i] == buffer) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        submit();
        context.destroy(arguments);
        vkDestroyFence(context.device, fence, null);
        vkDestroyCommandPool(context.device, commandPool, null);
    }
}

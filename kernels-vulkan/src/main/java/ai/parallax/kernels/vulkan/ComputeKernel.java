package ai.parallax.kernels.vulkan;

import static ai.parallax.kernels.vulkan.VulkanException.check;
import static org.lwjgl.system.MemoryStack.stackPush;
import static org.lwjgl.vulkan.VK10.*;

import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.util.Map;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.vulkan.KHRPushDescriptor;
import org.lwjgl.vulkan.VkComputePipelineCreateInfo;
import org.lwjgl.vulkan.VkDescriptorSetLayoutBinding;
import org.lwjgl.vulkan.VkDescriptorSetLayoutCreateInfo;
import org.lwjgl.vulkan.VkPipelineLayoutCreateInfo;
import org.lwjgl.vulkan.VkPipelineShaderStageCreateInfo;
import org.lwjgl.vulkan.VkPushConstantRange;
import org.lwjgl.vulkan.VkShaderModuleCreateInfo;

/**
 * One compute pipeline: a shader whose storage buffers are bindings {@code 0..bindings-1} of set 0, pushed per
 * dispatch (VK_KHR_push_descriptor, so there are no descriptor pools to manage), and whose scalar arguments are
 * push constants of at most {@link #MAX_PUSH_INTS} 32-bit words.
 */
final class ComputeKernel implements AutoCloseable {
    static final int MAX_PUSH_INTS = 32;

    final String name;
    final int bindings;
    final long setLayout;
    final long pipelineLayout;
    final long pipeline;
    private final VulkanContext context;

    ComputeKernel(VulkanContext context, String shader, Map<String, String> macros, int bindings) {
        this.context = context;
        this.name = shader + (macros.isEmpty() ? "" : macros.toString());
        this.bindings = bindings;
        byte[] spirv = ShaderCompiler.spirv(shader, macros);
        try (MemoryStack stack = stackPush()) {
            VkDescriptorSetLayoutBinding.Buffer slots = VkDescriptorSetLayoutBinding.calloc(bindings, stack);
            for (int i = 0; i < bindings; i++) {
                slots.get(i).binding(i).descriptorType(VK_DESCRIPTOR_TYPE_STORAGE_BUFFER).descriptorCount(1)
                        .stageFlags(VK_SHADER_STAGE_COMPUTE_BIT);
            }
            LongBuffer handle = stack.mallocLong(1);
            check(vkCreateDescriptorSetLayout(context.device, VkDescriptorSetLayoutCreateInfo.calloc(stack)
                    .sType$Default().flags(KHRPushDescriptor.VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR)
                    .pBindings(slots), null, handle), "vkCreateDescriptorSetLayout " + name);
            setLayout = handle.get(0);
            VkPushConstantRange.Buffer push = VkPushConstantRange.calloc(1, stack)
                    .stageFlags(VK_SHADER_STAGE_COMPUTE_BIT).offset(0).size(4 * MAX_PUSH_INTS);
            check(vkCreatePipelineLayout(context.device, VkPipelineLayoutCreateInfo.calloc(stack).sType$Default()
                    .pSetLayouts(stack.longs(setLayout)).pPushConstantRanges(push), null, handle),
                    "vkCreatePipelineLayout " + name);
            pipelineLayout = handle.get(0);
            ByteBuffer code = stack.malloc(spirv.length);
            code.put(spirv).flip();
            check(vkCreateShaderModule(context.device, VkShaderModuleCreateInfo.calloc(stack).sType$Default()
                    .pCode(code), null, handle), "vkCreateShaderModule " + name);
            long module = handle.get(0);
            VkPipelineShaderStageCreateInfo stage = VkPipelineShaderStageCreateInfo.calloc(stack).sType$Default()
                    .stage(VK_SHADER_STAGE_COMPUTE_BIT).module(module).pName(stack.UTF8("main"));
            VkComputePipelineCreateInfo.Buffer create = VkComputePipelineCreateInfo.calloc(1, stack).sType$Default()
                    .stage(stage).layout(pipelineLayout);
            int result = vkCreateComputePipelines(context.device, VK_NULL_HANDLE, create, null, handle);
            vkDestroyShaderModule(context.device, module, null);
            check(result, "vkCreateComputePipelines " + name);
            pipeline = handle.get(0);
        }
    }

    @Override
    public void close() {
        vkDestroyPipeline(context.device, pipeline, null);
        vkDestroyPipelineLayout(context.device, pipelineLayout, null);
        vkDestroyDescriptorSetLayout(context.device, setLayout, null);
    }
}

// Pasted into every shader after its #version line by ShaderCompiler. The Java side defines WG (threads per
// workgroup) and, for shaders that read weights, WEIGHT_DTYPE (0 = F32, 1 = BF16, 2 = F16).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x = WG) in;

// Grids larger than 65535 groups are folded into x and y (65535 is the smallest maxComputeWorkGroupCount[0]
// Vulkan guarantees); this is the group's index in the unfolded grid.
uint groupIndex() {
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

// Index of this thread in the unfolded grid, for one-thread-per-element shaders.
uint threadIndex() {
    return groupIndex() * WG + gl_LocalInvocationID.x;
}

// Reductions over the workgroup: within a subgroup in registers, then across subgroups through shared memory.
// Every thread of the group must call them (they contain barriers); every thread gets the result.
shared vec4 reduceScratch[WG];

vec4 groupSum4(vec4 v) {
    vec4 s = subgroupAdd(v);
    if (subgroupElect()) {
        reduceScratch[gl_SubgroupID] = s;
    }
    barrier();
    vec4 total = vec4(0.0);
    for (uint i = 0; i < gl_NumSubgroups; i++) {
        total += reduceScratch[i];
    }
    barrier();
    return total;
}

float groupSum(float v) {
    return groupSum4(vec4(v, 0.0, 0.0, 0.0)).x;
}

float groupMax(float v) {
    float m = subgroupMax(v);
    if (subgroupElect()) {
        reduceScratch[gl_SubgroupID].x = m;
    }
    barrier();
    float total = reduceScratch[0].x;
    for (uint i = 1; i < gl_NumSubgroups; i++) {
        total = max(total, reduceScratch[i].x);
    }
    barrier();
    return total;
}

// A float from element i of a packed weight array of the given dtype; 16-bit elements share a 32-bit word,
// the lower-addressed element in the low half (little-endian). BF16 is the upper half of an F32.
float decodeElement(uint dtype, uint word, uint i) {
    if (dtype == 0u) {
        return uintBitsToFloat(word);
    }
    uint bits = (i & 1u) == 0u ? (word & 0xFFFFu) : (word >> 16);
    return dtype == 1u ? uintBitsToFloat(bits << 16) : unpackHalf2x16(bits).x;
}

uint wordOf(uint dtype, uint i) {
    return dtype == 0u ? i : (i >> 1);
}

#ifdef WEIGHT_DTYPE
// The weight dtype is a compile-time constant here, so the branches above fold away in the inner loops.
#define WEIGHT(buffer, i) decodeElement(uint(WEIGHT_DTYPE), buffer[wordOf(uint(WEIGHT_DTYPE), (i))], (i))
#endif

#version 450
#include "common.glsl"

// dst[rows[i], :] += weights[i] * src[i, :] for i < count: an expert's weighted outputs back to their tokens. A
// row of dst may appear more than once, so one thread owns a column and walks the list in order: no two threads
// ever add to the same element, and the sums come in the order the CPU backend adds them. The argument ring holds
// the row indices at rowsOffset and the weights' float bits right after them.
layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) buffer Dst { float dst[]; };
layout(std430, binding = 2) readonly buffer Rows { uint rows[]; };

layout(push_constant) uniform Params {
    uint count;
    uint width;
    uint srcOffset;
    uint dstOffset;
    uint rowsOffset;
} p;

void main() {
    uint c = threadIndex();
    if (c >= p.width) {
        return;
    }
    for (uint i = 0u; i < p.count; i++) {
        uint at = p.dstOffset + rows[p.rowsOffset + i] * p.width + c;
        float weight = uintBitsToFloat(rows[p.rowsOffset + p.count + i]);
        dst[at] += weight * src[p.srcOffset + i * p.width + c];
    }
}

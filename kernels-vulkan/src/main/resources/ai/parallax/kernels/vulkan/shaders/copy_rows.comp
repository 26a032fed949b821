#version 450
#include "common.glsl"

// Row copies through an index list staged in the argument ring, one thread per element:
//   gather  (scatter == 0): dst[dstRow0 + i, :] = src[rows[i], :]   (picking logits rows, routing tokens to an expert)
//   scatter (scatter == 1): dst[rows[i], :] = src[srcRow0 + i, :]   (new keys and values into a paged KV pool)
// Row indices are relative to the tensors' first elements (srcOffset, dstOffset).
layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { float dst[]; };
layout(std430, binding = 2) readonly buffer Rows { uint rows[]; };

layout(push_constant) uniform Params {
    uint count;
    uint width;
    uint srcOffset;
    uint dstOffset;
    uint rowsOffset;
    uint scatter;
} p;

void main() {
    uint e = threadIndex();
    if (e >= p.count * p.width) {
        return;
    }
    uint i = e / p.width;
    uint c = e % p.width;
    uint indexed = rows[p.rowsOffset + i];
    uint srcRow = p.scatter != 0u ? i : indexed;
    uint dstRow = p.scatter != 0u ? indexed : i;
    dst[p.dstOffset + dstRow * p.width + c] = src[p.srcOffset + srcRow * p.width + c];
}

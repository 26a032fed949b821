#version 450
#include "common.glsl"

// Index of the largest element of each row, the first on ties; one workgroup per row. Each thread scans a strided slice
// in increasing order (so keeps its first maximum), then a tree reduction prefers the lower index on ties.
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Result { uint result[]; };

layout(push_constant) uniform Params {
    uint width;
    uint offset;
    uint resultIndex;
} p;

shared float bestValue[WG];
shared uint bestIndex[WG];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint row = groupIndex();
    uint offset = p.offset + row * p.width;
    float value = -1.0 / 0.0;
    uint index = 0xFFFFFFFFu;
    for (uint c = lid; c < p.width; c += WG) {
        float v = x[offset + c];
        if (v > value || index == 0xFFFFFFFFu) {
            value = v;
            index = c;
        }
    }
    bestValue[lid] = value;
    bestIndex[lid] = index;
    barrier();
    for (uint stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            float v = bestValue[lid + stride];
            uint i = bestIndex[lid + stride];
            if (i != 0xFFFFFFFFu && (bestIndex[lid] == 0xFFFFFFFFu || v > bestValue[lid]
                    || (v == bestValue[lid] && i < bestIndex[lid]))) {
                bestValue[lid] = v;
                bestIndex[lid] = i;
            }
        }
        barrier();
    }
    if (lid == 0u) {
        result[p.resultIndex + row] = bestIndex[0];
    }
}

#version 450
#include "common.glsl"

// out = silu(gate) * up, one thread per element; out may be gate (each thread reads before it writes).
layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer U { float up[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
    uint count;
    uint gateOffset;
    uint upOffset;
    uint outOffset;
} p;

void main() {
    uint i = threadIndex();
    if (i < p.count) {
        float g = gate[p.gateOffset + i];
        o[p.outOffset + i] = g / (1.0 + exp(-g)) * up[p.upOffset + i];
    }
}

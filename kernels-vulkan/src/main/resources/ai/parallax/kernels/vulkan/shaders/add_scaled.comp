#version 450
#include "common.glsl"

// x += scale * y, one thread per element: adds an expert's weighted output back to its token.
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
    uint count;
    uint xOffset;
    uint yOffset;
    float scale;
} p;

void main() {
    uint i = threadIndex();
    if (i < p.count) {
        x[p.xOffset + i] += p.scale * y[p.yOffset + i];
    }
}

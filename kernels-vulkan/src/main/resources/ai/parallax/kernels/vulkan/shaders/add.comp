#version 450
#include "common.glsl"

// x += y, one thread per element.
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };

layout(push_constant) uniform Params {
    uint count;
    uint xOffset;
    uint yOffset;
} p;

void main() {
    uint i = threadIndex();
    if (i < p.count) {
        x[p.xOffset + i] += y[p.yOffset + i];
    }
}

#version 450
#include "common.glsl"

// Numerically stable softmax of each row in place; one workgroup per row.
layout(std430, binding = 0) buffer X { float x[]; };

layout(push_constant) uniform Params {
    uint rows;
    uint width;
    uint offset;
} p;

void main() {
    uint row = groupIndex();
    if (row >= p.rows) {
        return;
    }
    uint base = p.offset + row * p.width;
    float localMax = -1.0 / 0.0;
    for (uint c = gl_LocalInvocationID.x; c < p.width; c += WG) {
        localMax = max(localMax, x[base + c]);
    }
    float m = groupMax(localMax);
    float localSum = 0.0;
    for (uint c = gl_LocalInvocationID.x; c < p.width; c += WG) {
        float e = exp(x[base + c] - m);
        x[base + c] = e;
        localSum += e;
    }
    float inv = 1.0 / groupSum(localSum);
    for (uint c = gl_LocalInvocationID.x; c < p.width; c += WG) {
        x[base + c] *= inv;
    }
}

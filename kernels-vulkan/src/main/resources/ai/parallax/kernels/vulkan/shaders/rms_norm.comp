#version 450
#include "common.glsl"

// out = x / sqrt(mean(x^2) + eps) * weight over each row; one workgroup per row. x and out may be one buffer:
// every thread reads its elements before the reduction's barriers and writes only those elements after them.
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
    uint rows;
    uint width;
    uint xOffset;
    uint wOffset;
    uint outOffset;
    float eps;
} p;

void main() {
    uint row = groupIndex();
    if (row >= p.rows) {
        return;
    }
    uint xBase = p.xOffset + row * p.width;
    float squares = 0.0;
    for (uint c = gl_LocalInvocationID.x; c < p.width; c += WG) {
        float v = x[xBase + c];
        squares += v * v;
    }
    float inv = 1.0 / sqrt(groupSum(squares) / float(p.width) + p.eps);
    uint oBase = p.outOffset + row * p.width;
    for (uint c = gl_LocalInvocationID.x; c < p.width; c += WG) {
        o[oBase + c] = x[xBase + c] * inv * WEIGHT(w, p.wOffset + c);
    }
}

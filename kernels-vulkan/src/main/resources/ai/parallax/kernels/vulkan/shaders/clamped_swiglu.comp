#version 450
#include "common.glsl"

// gpt-oss's clamped SwiGLU over interleaved gate/up columns (modeling_gpt_oss GptOssExperts):
// out[r, i] = (clamp(up, -limit, limit) + 1) * g * sigmoid(alpha * g), g = min(gate, limit),
// with gate = gateUp[r, 2i] and up = gateUp[r, 2i + 1].
layout(std430, binding = 0) readonly buffer In { float gateUp[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
    uint rows;
    uint width;
    uint inOffset;
    uint outOffset;
    float limit;
    float alpha;
} p;

void main() {
    uint e = threadIndex();
    if (e >= p.rows * p.width) {
        return;
    }
    uint r = e / p.width;
    uint i = e % p.width;
    uint at = p.inOffset + r * 2u * p.width + 2u * i;
    float gate = min(gateUp[at], p.limit);
    float up = clamp(gateUp[at + 1u], -p.limit, p.limit);
    o[p.outOffset + e] = (up + 1.0) * gate / (1.0 + exp(-p.alpha * gate));
}

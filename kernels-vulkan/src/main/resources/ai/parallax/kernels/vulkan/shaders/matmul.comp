#version 450
#include "common.glsl"

// out[t, outColumn + n] = sum_k x[t, k] * w[n, k] (+ bias[n]) for the rows n of one weight buffer (a weight larger
// than maxStorageBufferRange is split by rows into several buffers, one dispatch each). One workgroup computes one
// weight row for a tile of four tokens: the row is read once per tile, the threads stride over k, and the four
// partial sums are reduced together as a vec4.
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };
layout(std430, binding = 2) readonly buffer B { uint bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
    uint tokens;
    uint rows;
    uint k;
    uint xOffset;
    uint wOffset;
    uint outOffset;
    uint outStride;
    uint outColumn;
    uint hasBias;
    uint biasDtype;
    uint biasOffset;
} p;

void main() {
    uint row = groupIndex();
    if (row >= p.rows) {
        return;
    }
    uint t0 = gl_WorkGroupID.z * 4u;
    uint nt = min(4u, p.tokens - t0);
    uint wBase = p.wOffset + row * p.k;
    uint x0 = p.xOffset + t0 * p.k;
    vec4 acc = vec4(0.0);
    if (nt == 4u) {
        for (uint c = gl_LocalInvocationID.x; c < p.k; c += WG) {
            float wv = WEIGHT(w, wBase + c);
            acc += wv * vec4(x[x0 + c], x[x0 + p.k + c], x[x0 + 2u * p.k + c], x[x0 + 3u * p.k + c]);
        }
    } else {
        for (uint c = gl_LocalInvocationID.x; c < p.k; c += WG) {
            float wv = WEIGHT(w, wBase + c);
            for (uint j = 0u; j < nt; j++) {
                acc[j] += wv * x[x0 + j * p.k + c];
            }
        }
    }
    vec4 total = groupSum4(acc);
    uint j = gl_LocalInvocationID.x;
    if (j < nt) {
        float s = total[j];
        if (p.hasBias != 0u) {
            uint i = p.biasOffset + row;
            s += decodeElement(p.biasDtype, bias[wordOf(p.biasDtype, i)], i);
        }
        o[p.outOffset + (t0 + j) * p.outStride + p.outColumn + row] = s;
    }
}

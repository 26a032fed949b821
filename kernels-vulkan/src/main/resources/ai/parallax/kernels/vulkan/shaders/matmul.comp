#version 450
#include "common.glsl"

// out[t, outColumn + n] = sum_k x[t, k] * w[n, k] (+ bias[n]) for the rows n of one weight buffer (a weight larger
// than maxStorageBufferRange is split by rows into several buffers, one dispatch each).
//
// A workgroup computes WG / rowThreads weight rows for a tile of four tokens: each row's rowThreads threads (a power
// of two, chosen from k so that short rows do not leave most threads idle) stride over k, reading the weight row
// once per tile, and the four partial sums are reduced together as a vec4: within subgroups in registers, then
// across the row's subgroups through shared memory.
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
    uint rowThreads;
} p;

shared vec4 partial[WG];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid % p.rowThreads;
    uint row = groupIndex() * (WG / p.rowThreads) + lid / p.rowThreads;
    uint t0 = gl_WorkGroupID.z * 4u;
    uint nt = min(4u, p.tokens - t0);
    vec4 acc = vec4(0.0);
    if (row < p.rows) {
        uint wBase = p.wOffset + row * p.k;
        uint x0 = p.xOffset + t0 * p.k;
        if (nt == 4u) {
            for (uint c = lane; c < p.k; c += p.rowThreads) {
                float wv = WEIGHT(w, wBase + c);
                acc += wv * vec4(x[x0 + c], x[x0 + p.k + c], x[x0 + 2u * p.k + c], x[x0 + 3u * p.k + c]);
            }
        } else {
            for (uint c = lane; c < p.k; c += p.rowThreads) {
                float wv = WEIGHT(w, wBase + c);
                for (uint j = 0u; j < nt; j++) {
                    acc[j] += wv * x[x0 + j * p.k + c];
                }
            }
        }
    }
    // Rows span whole subgroups when rowThreads >= the subgroup size (both are powers of two and subgroups are
    // consecutive invocations), so a subgroup sum is a partial row sum; shorter rows are summed from shared memory.
    uint parts;
    if (p.rowThreads >= gl_SubgroupSize) {
        vec4 s = subgroupAdd(acc);
        if (subgroupElect()) {
            partial[gl_SubgroupID] = s;
        }
        parts = p.rowThreads / gl_SubgroupSize;
    } else {
        partial[lid] = acc;
        parts = p.rowThreads;
    }
    barrier();
    if (lane == 0u && row < p.rows) {
        uint first = (lid / p.rowThreads) * parts;
        vec4 total = vec4(0.0);
        for (uint i = 0u; i < parts; i++) {
            total += partial[first + i];
        }
        float b = 0.0;
        if (p.hasBias != 0u) {
            uint i = p.biasOffset + row;
            b = decodeElement(p.biasDtype, bias[wordOf(p.biasDtype, i)], i);
        }
        uint at = p.outOffset + t0 * p.outStride + p.outColumn + row;
        for (uint j = 0u; j < nt; j++) {
            o[at + j * p.outStride] = total[j] + b;
        }
    }
}

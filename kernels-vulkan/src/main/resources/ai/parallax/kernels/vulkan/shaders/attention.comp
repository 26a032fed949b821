#version 450
#include "common.glsl"

// Causal grouped-query attention over a contiguous KV cache. One workgroup per (token, head): scores for every
// visible position go to a scratch buffer, then a numerically stable softmax, then the weighted sum of values.
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float keys[]; };
layout(std430, binding = 2) readonly buffer V { float vals[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) buffer Scores { float scores[]; };

layout(push_constant) uniform Params {
    uint tokens;
    uint heads;
    uint kvHeads;
    uint headDim;
    uint startPos;
    uint qOffset;
    uint kOffset;
    uint vOffset;
    uint outOffset;
    uint scoresStride;
    float scale;
} p;

#define MAX_HEAD_DIM 512
shared float qShared[MAX_HEAD_DIM];

void main() {
    uint unit = groupIndex();
    if (unit >= p.tokens * p.heads) {
        return;
    }
    uint t = unit / p.heads;
    uint h = unit % p.heads;
    uint kvHead = h / (p.heads / p.kvHeads);
    uint kvWidth = p.kvHeads * p.headDim;
    uint visible = p.startPos + t + 1u;
    uint qBase = p.qOffset + unit * p.headDim;
    uint sBase = unit * p.scoresStride;
    uint lid = gl_LocalInvocationID.x;

    for (uint d = lid; d < p.headDim; d += WG) {
        qShared[d] = q[qBase + d];
    }
    barrier();

    float localMax = -1.0 / 0.0;
    for (uint pos = lid; pos < visible; pos += WG) {
        uint kBase = p.kOffset + pos * kvWidth + kvHead * p.headDim;
        float s = 0.0;
        for (uint d = 0u; d < p.headDim; d++) {
            s += qShared[d] * keys[kBase + d];
        }
        s *= p.scale;
        scores[sBase + pos] = s;
        localMax = max(localMax, s);
    }
    float m = groupMax(localMax);

    float localSum = 0.0;
    for (uint pos = lid; pos < visible; pos += WG) {
        float e = exp(scores[sBase + pos] - m);
        scores[sBase + pos] = e;
        localSum += e;
    }
    // The weighted sum below reads scores other threads wrote.
    memoryBarrierBuffer();
    float inv = 1.0 / groupSum(localSum);

    for (uint d = lid; d < p.headDim; d += WG) {
        uint vColumn = p.vOffset + kvHead * p.headDim + d;
        float acc = 0.0;
        for (uint pos = 0u; pos < visible; pos++) {
            acc += scores[sBase + pos] * vals[vColumn + pos * kvWidth];
        }
        o[p.outOffset + unit * p.headDim + d] = acc * inv;
    }
}

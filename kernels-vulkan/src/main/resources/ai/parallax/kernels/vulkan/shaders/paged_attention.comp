#version 450
#include "common.glsl"

// Causal grouped-query attention over a paged KV pool, for a batch of sequences of different lengths, with the
// two gpt-oss options: a sliding window and a learned sink logit per head (Ops.pagedAttentionWithSinks).
//
// The host stages, per query row t, its position and where its sequence's block table starts (args[argsOffset +
// 2t], args[argsOffset + 2t + 1]), and the block tables themselves, in the argument ring. Position p of a sequence
// lives in pool row table[p / blockSize] * blockSize + p % blockSize, so keys and values are read where they are:
// there is no contiguous copy of a sequence's cache.
//
// One workgroup per (query row, head): scores of the visible positions go to a scratch row, then a numerically
// stable softmax (the sink joins the denominator only), then the weighted sum of values, one thread per dimension.
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float keys[]; };
layout(std430, binding = 2) readonly buffer V { float vals[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) buffer Scores { float scores[]; };
layout(std430, binding = 5) readonly buffer Args { uint args[]; };
layout(std430, binding = 6) readonly buffer Sinks { uint sinks[]; };

layout(push_constant) uniform Params {
    uint tokens;
    uint heads;
    uint kvHeads;
    uint headDim;
    uint qOffset;
    uint kOffset;
    uint vOffset;
    uint outOffset;
    uint scoresStride;
    float scale;
    uint blockSize;
    uint window;
    uint argsOffset;
    uint hasSinks;
    uint sinkDtype;
    uint sinkOffset;
} p;

#define MAX_HEAD_DIM 512
shared float qShared[MAX_HEAD_DIM];

uint poolRow(uint table, uint pos) {
    return args[table + pos / p.blockSize] * p.blockSize + pos % p.blockSize;
}

void main() {
    uint unit = groupIndex();
    if (unit >= p.tokens * p.heads) {
        return;
    }
    uint t = unit / p.heads;
    uint h = unit % p.heads;
    uint kvHead = h / (p.heads / p.kvHeads);
    uint kvWidth = p.kvHeads * p.headDim;
    uint position = args[p.argsOffset + 2u * t];
    uint table = args[p.argsOffset + 2u * t + 1u];
    uint first = (p.window > 0u && position + 1u > p.window) ? position + 1u - p.window : 0u;
    uint visible = position + 1u - first;
    uint qBase = p.qOffset + unit * p.headDim;
    uint sBase = unit * p.scoresStride;
    uint lid = gl_LocalInvocationID.x;

    for (uint d = lid; d < p.headDim; d += WG) {
        qShared[d] = q[qBase + d];
    }
    barrier();

    float localMax = -1.0 / 0.0;
    for (uint i = lid; i < visible; i += WG) {
        uint kBase = p.kOffset + poolRow(table, first + i) * kvWidth + kvHead * p.headDim;
        float s = 0.0;
        for (uint d = 0u; d < p.headDim; d++) {
            s += qShared[d] * keys[kBase + d];
        }
        s *= p.scale;
        scores[sBase + i] = s;
        localMax = max(localMax, s);
    }
    float m = groupMax(localMax);
    float sink = 0.0;
    if (p.hasSinks != 0u) {
        uint si = p.sinkOffset + h;
        sink = decodeElement(p.sinkDtype, sinks[wordOf(p.sinkDtype, si)], si);
        m = max(m, sink);
    }

    float localSum = 0.0;
    for (uint i = lid; i < visible; i += WG) {
        float e = exp(scores[sBase + i] - m);
        scores[sBase + i] = e;
        localSum += e;
    }
    // The weighted sum below reads scores other threads wrote.
    memoryBarrierBuffer();
    float total = groupSum(localSum) + (p.hasSinks != 0u ? exp(sink - m) : 0.0);
    float inv = 1.0 / total;

    for (uint d = lid; d < p.headDim; d += WG) {
        uint vColumn = p.vOffset + kvHead * p.headDim + d;
        float acc = 0.0;
        for (uint i = 0u; i < visible; i++) {
            acc += scores[sBase + i] * vals[vColumn + poolRow(table, first + i) * kvWidth];
        }
        o[p.outOffset + unit * p.headDim + d] = acc * inv;
    }
}

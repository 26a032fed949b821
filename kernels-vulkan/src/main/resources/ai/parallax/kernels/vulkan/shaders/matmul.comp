#version 450
#include "common.glsl"

// out[t, outColumn + n] = sum_k x[t, k] * w[n, k] (+ bias[n]) for the rows n of one weight buffer (a weight larger
// than maxStorageBufferRange is split by rows into several buffers, one dispatch each).
//
// WEIGHT_DTYPE picks how a weight element is read, always inside the dot product (no expanded copy exists):
// 0..2 F32, BF16, F16; 3, 4 F8_E4M3, F8_E5M2 bytes, times the scale of their [blockRows, blockCols] block when the
// weight has block scales; 5 MXFP4 (OCP MX v1.0 section 5): two E2M1 codes per byte, low nibble first, times the
// E8M0 scale of their block of 32 along the row.
//
// A workgroup computes WG / rowThreads weight rows for a tile of four tokens: each row's rowThreads threads (a power
// of two, chosen from k so that short rows do not leave most threads idle) stride over k, reading the weight row
// once per tile, and the four partial sums are reduced together as a vec4: within subgroups in registers, then
// across the row's subgroups through shared memory.
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { uint w[]; };
layout(std430, binding = 2) readonly buffer B { uint bias[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer S { uint wscale[]; };

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
    uint wRowStride;
    uint scaleOffset;
    uint scaleStride;
    uint blockRows;
    uint blockCols;
    uint scaleDtype;
    uint vectorized;
} p;

uint byteAt(uint i) {
    return (w[i >> 2] >> ((i & 3u) * 8u)) & 0xFFu;
}

#if WEIGHT_DTYPE <= 2
float weightAt(uint wBase, uint globalRow, uint c) {
    return WEIGHT(w, wBase + c);
}
#elif WEIGHT_DTYPE <= 4
// Exponent and mantissa fields placed into a float's; subnormals (exponent 0) are computed rather than left to
// float subnormals, which GPUs may flush to zero.
float decodeFp8(uint b) {
#if WEIGHT_DTYPE == 3
    // E4M3: bias 7, no infinities; S.1111.111 is NaN.
    uint e = (b >> 3) & 0xFu;
    uint m = b & 7u;
    float mag = e == 0u ? float(m) * (1.0 / 512.0) : uintBitsToFloat(((e + 120u) << 23) | (m << 20));
    if ((b & 0x7Fu) == 0x7Fu) {
        mag = uintBitsToFloat(0x7FC00000u);
    }
#else
    // E5M2: bias 15; exponent 31 is infinity (mantissa 0) or NaN.
    uint e = (b >> 2) & 0x1Fu;
    uint m = b & 3u;
    float mag = e == 0u ? float(m) * (1.0 / 65536.0)
            : e == 31u ? uintBitsToFloat(m == 0u ? 0x7F800000u : 0x7FC00000u)
            : uintBitsToFloat(((e + 112u) << 23) | (m << 21));
#endif
    return (b & 0x80u) != 0u ? -mag : mag;
}

float weightAt(uint wBase, uint globalRow, uint c) {
    float v = decodeFp8(byteAt(wBase + c));
    if (p.blockCols != 0u) {
        uint si = p.scaleOffset + (globalRow / p.blockRows) * p.scaleStride + c / p.blockCols;
        v *= decodeElement(p.scaleDtype, wscale[wordOf(p.scaleDtype, si)], si);
    }
    return v;
}
#endif

#if WEIGHT_DTYPE == 1 || WEIGHT_DTYPE == 2
// The vectorised path of 16-bit weights (vectorized != 0: k a multiple of 8, the weight's and the input's first
// elements 16-byte aligned): each thread reads 16 bytes, eight weights, per load, so that a subgroup's loads cover
// whole cache lines and enough bytes are in flight to keep the memory busy at batch 1. The buffers are the same
// bindings seen as vectors.
layout(std430, binding = 1) readonly buffer W4 { uvec4 w4[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };

void unpack8(uvec4 u, out vec4 a, out vec4 b) {
#if WEIGHT_DTYPE == 1
    a = vec4(uintBitsToFloat(u.x << 16), uintBitsToFloat(u.x & 0xFFFF0000u),
             uintBitsToFloat(u.y << 16), uintBitsToFloat(u.y & 0xFFFF0000u));
    b = vec4(uintBitsToFloat(u.z << 16), uintBitsToFloat(u.z & 0xFFFF0000u),
             uintBitsToFloat(u.w << 16), uintBitsToFloat(u.w & 0xFFFF0000u));
#else
    a = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
    b = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
#endif
}
#endif

#if WEIGHT_DTYPE == 5
const float E2M1[16] = float[](0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                               -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0);

// wBase is the byte offset of the row's codes; the row's scales start at scaleOffset + globalRow * scaleStride.
float weightAt(uint wBase, uint globalRow, uint c) {
    uint b = byteAt(wBase + (c >> 1));
    uint code = (c & 1u) != 0u ? b >> 4 : b & 0xFu;
    uint si = p.scaleOffset + globalRow * p.scaleStride + (c >> 5);
    uint s = (wscale[si >> 2] >> ((si & 3u) * 8u)) & 0xFFu;
    return E2M1[code] * (s == 255u ? uintBitsToFloat(0x7FC00000u) : exp2(float(int(s) - 127)));
}
#endif

#ifdef TILED
// Prompts (many tokens): a workgroup of 256 threads computes a tile of 64 weight rows x 64 tokens, each thread a
// 4 x 4 block of it, from tiles of 16 columns of the weight and of the input staged in shared memory. Each weight
// element is then read from memory once per 64 tokens instead of once per 4.
#define TILE_ROWS 64u
#define TILE_TOKENS 64u
#define TILE_K 16u
shared float wTile[TILE_K][TILE_ROWS + 1u];
shared float xTile[TILE_K][TILE_TOKENS + 1u];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint row0 = groupIndex() * TILE_ROWS;
    uint t0 = gl_WorkGroupID.z * TILE_TOKENS;
    uint myRows = (lid % 16u) * 4u;
    uint myTokens = (lid / 16u) * 4u;
    vec4 acc[4] = vec4[](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));
    for (uint k0 = 0u; k0 < p.k; k0 += TILE_K) {
        for (uint i = lid; i < TILE_ROWS * TILE_K; i += WG) {
            uint r = i / TILE_K;
            uint c = i % TILE_K;
            uint row = row0 + r;
            uint col = k0 + c;
            wTile[c][r] = (row < p.rows && col < p.k)
                    ? weightAt(p.wOffset + row * p.wRowStride, p.outColumn + row, col) : 0.0;
        }
        for (uint i = lid; i < TILE_TOKENS * TILE_K; i += WG) {
            uint t = i / TILE_K;
            uint c = i % TILE_K;
            uint token = t0 + t;
            uint col = k0 + c;
            xTile[c][t] = (token < p.tokens && col < p.k) ? x[p.xOffset + token * p.k + col] : 0.0;
        }
        barrier();
        for (uint c = 0u; c < TILE_K; c++) {
            vec4 xv = vec4(xTile[c][myTokens], xTile[c][myTokens + 1u], xTile[c][myTokens + 2u],
                           xTile[c][myTokens + 3u]);
            for (uint i = 0u; i < 4u; i++) {
                acc[i] += wTile[c][myRows + i] * xv;
            }
        }
        barrier();
    }
    for (uint i = 0u; i < 4u; i++) {
        uint row = row0 + myRows + i;
        if (row >= p.rows) {
            continue;
        }
        float b = 0.0;
        if (p.hasBias != 0u) {
            uint bi = p.biasOffset + row;
            b = decodeElement(p.biasDtype, bias[wordOf(p.biasDtype, bi)], bi);
        }
        for (uint j = 0u; j < 4u; j++) {
            uint token = t0 + myTokens + j;
            if (token < p.tokens) {
                o[p.outOffset + token * p.outStride + p.outColumn + row] = acc[i][j] + b;
            }
        }
    }
}
#else
shared vec4 partial[WG];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid % p.rowThreads;
    uint row = groupIndex() * (WG / p.rowThreads) + lid / p.rowThreads;
    uint t0 = gl_WorkGroupID.z * 4u;
    uint nt = min(4u, p.tokens - t0);
    vec4 acc = vec4(0.0);
    if (row < p.rows) {
        uint wBase = p.wOffset + row * p.wRowStride;
        uint globalRow = p.outColumn + row;
        uint x0 = p.xOffset + t0 * p.k;
#if WEIGHT_DTYPE == 1 || WEIGHT_DTYPE == 2
        if (p.vectorized != 0u) {
            uint w8 = wBase >> 3;
            uint k8 = p.k >> 3;
            uint x4Base = x0 >> 2;
            uint x4Stride = p.k >> 2;
            for (uint c = lane; c < k8; c += p.rowThreads) {
                vec4 a;
                vec4 b;
                unpack8(w4[w8 + c], a, b);
                for (uint j = 0u; j < nt; j++) {
                    uint xi = x4Base + j * x4Stride + 2u * c;
                    acc[j] += dot(a, x4[xi]) + dot(b, x4[xi + 1u]);
                }
            }
        } else
#endif
        if (nt == 4u) {
            for (uint c = lane; c < p.k; c += p.rowThreads) {
                float wv = weightAt(wBase, globalRow, c);
                acc += wv * vec4(x[x0 + c], x[x0 + p.k + c], x[x0 + 2u * p.k + c], x[x0 + 3u * p.k + c]);
            }
        } else {
            for (uint c = lane; c < p.k; c += p.rowThreads) {
                float wv = weightAt(wBase, globalRow, c);
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
#endif

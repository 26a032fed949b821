#version 450
#include "common.glsl"

// Rotary embedding in place, rotate_half layout: element i of a head's first rotary half pairs with element
// i + half. One thread per pair.
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Cos { float cosTable[]; };
layout(std430, binding = 2) readonly buffer Sin { float sinTable[]; };
layout(std430, binding = 3) readonly buffer Positions { uint positions[]; };

layout(push_constant) uniform Params {
    uint tokens;
    uint heads;
    uint headDim;
    uint halfDim;
    uint xOffset;
    uint cosOffset;
    uint sinOffset;
    uint positionsOffset;
} p;

void main() {
    uint i = threadIndex();
    if (i >= p.tokens * p.heads * p.halfDim) {
        return;
    }
    uint pair = i % p.halfDim;
    uint tokenHead = i / p.halfDim;
    uint t = tokenHead / p.heads;
    uint first = p.xOffset + tokenHead * p.headDim + pair;
    uint second = first + p.halfDim;
    uint table = positions[p.positionsOffset + t] * p.halfDim + pair;
    float c = cosTable[p.cosOffset + table];
    float s = sinTable[p.sinOffset + table];
    float a = x[first];
    float b = x[second];
    x[first] = a * c - b * s;
    x[second] = b * c + a * s;
}

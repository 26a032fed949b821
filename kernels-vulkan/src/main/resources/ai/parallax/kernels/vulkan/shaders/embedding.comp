#version 450
#include "common.glsl"

// out[t, :] = table[ids[t], :] as floats, for the ids that fall in this buffer's rows [firstRow, firstRow + rows).
layout(std430, binding = 0) readonly buffer Table { uint table[]; };
layout(std430, binding = 1) readonly buffer Ids { uint ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
    uint tokens;
    uint width;
    uint tableOffset;
    uint firstRow;
    uint rows;
    uint idsOffset;
    uint outOffset;
} p;

void main() {
    uint i = threadIndex();
    if (i >= p.tokens * p.width) {
        return;
    }
    uint t = i / p.width;
    uint c = i % p.width;
    uint id = ids[p.idsOffset + t];
    if (id < p.firstRow || id >= p.firstRow + p.rows) {
        return;
    }
    o[p.outOffset + i] = WEIGHT(table, p.tableOffset + (id - p.firstRow) * p.width + c);
}

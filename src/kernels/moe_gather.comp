#version 450
// moe_gather: rows of a [T, C] matrix into grouped order, dst[p, :] = src[rows[p] / k, :], scaled
// by the routing weight of slot rows[p] where pc.weights is set (the combine's backward). One
// thread per element in a grid-stride loop; math in f32, one rounding per stored value. A slot
// index past S (only from a corrupt rows buffer) leaves its row untouched.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { MOE_GATHER_PUSH } pc;

void main() {
  IN_BUF src = IN_BUF(pc.src);
  OUT_BUF dst = OUT_BUF(pc.dst);
  BufU32 rows = BufU32(pc.rows);
  for (uint i = gl_GlobalInvocationID.x; i < pc.slots * pc.cols; i += TOTAL_THREADS) {
    uint p = i / pc.cols, c = i - p * pc.cols;
    uint slot = rows.v[p];
    if (slot >= pc.slots) continue;
    float x = in_load(src, (slot / pc.k) * pc.cols + c);
    if (pc.weights != 0) x *= BufF32(pc.weights).v[slot];
    out_store(dst, i, x);
  }
}

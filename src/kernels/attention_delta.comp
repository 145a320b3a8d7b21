#version 450
// attention_delta: delta[b, h, t] = sum over d of dout[b, t, h, d] * o[b, t, h, d] (f32), the
// row term of the softmax gradient that both backward passes subtract. dout and o [B, T, Hq, D]
// (IN_*), delta f32 [B, Hq, T]. A workgroup takes 16 rows at a time (grid-stride), 16 threads
// per row each summing every 16th element, then a fixed shared-memory tree over the 16 partial
// sums: no subgroup operations, the same bits on every run and device.
#include "common.glsl"
#include "attention_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { ATTENTION_DELTA_PUSH } pc;

const uint LANES = 16;
const uint ROWS = 256 / LANES;
shared float partial[256];

void main() {
  const uint lane = gl_LocalInvocationID.x % LANES, slot = gl_LocalInvocationID.x / LANES;
  IN_BUF dout = IN_BUF(pc.dout), o = IN_BUF(pc.o);
  for (uint first = gl_WorkGroupID.x * ROWS; first < pc.rows; first += gl_NumWorkGroups.x * ROWS) {
    uint row = first + slot;
    float sum = 0.0;
    if (row < pc.rows)
      for (uint d = lane; d < pc.D; d += LANES)
        sum = fma(in_load(dout, row * pc.D + d), in_load(o, row * pc.D + d), sum);
    partial[gl_LocalInvocationID.x] = sum;
    barrier();
    for (uint width = LANES / 2; width > 0; width >>= 1) {
      if (lane < width) partial[gl_LocalInvocationID.x] += partial[gl_LocalInvocationID.x + width];
      barrier();
    }
    if (lane == 0 && row < pc.rows) {
      uint h = row % pc.heads_q, bt = row / pc.heads_q;  // row = (b * T + t) * Hq + h
      uint b = bt / pc.T, t = bt % pc.T;
      BufF32(pc.delta).v[(b * pc.heads_q + h) * pc.T + t] = partial[gl_LocalInvocationID.x];
    }
    barrier();
  }
}

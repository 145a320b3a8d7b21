#version 450
// attention_sinks_backward: the gradient of the attention sinks (attention_push.h),
// dsinks[h] (+)= -sum over b, t of exp(sinks[h] - lse[b, h, t]) * delta[b, h, t]. A sink is a
// softmax column whose value is zero, so its score gradient is p_sink (0 - delta) with delta =
// dout . o, the term attention_delta computed. sinks, dsinks f32 [Hq]; lse, delta f32 [B, Hq, T].
// Workgroup x = head: 256 threads each sum every 256th of the head's B T rows in order, then a
// fixed shared-memory tree: the same bits every run, no atomics.
#include "common.glsl"
#include "attention_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { ATTENTION_SINKS_BACKWARD_PUSH } pc;

const uint THREADS = 256;
shared float partial[THREADS];

void main() {
  const uint t = gl_LocalInvocationID.x, h = gl_WorkGroupID.x;
  BufF32 lse = BufF32(pc.lse), delta = BufF32(pc.delta);
  const float sink = BufF32(pc.sinks).v[h];
  float sum = 0.0;
  for (uint row = t; row < pc.rows; row += THREADS) {
    uint at = ((row / pc.T) * pc.heads_q + h) * pc.T + row % pc.T;  // row = b * T + t
    sum = fma(exp(sink - lse.v[at]), delta.v[at], sum);
  }
  partial[t] = sum;
  barrier();
  for (uint width = THREADS / 2; width > 0; width >>= 1) {
    if (t < width) partial[t] += partial[t + width];
    barrier();
  }
  if (t == 0) {
    BufF32 dsinks = BufF32(pc.dsinks);
    dsinks.v[h] = (pc.accumulate != 0 ? dsinks.v[h] : 0.0) - partial[0];
  }
}

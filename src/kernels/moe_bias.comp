#version 450
// moe_bias: per-expert biases over rows grouped by expert (gpt-oss's gate_up_proj_bias and
// down_proj_bias). Forward: y[p, n] += bias[e, n] with e the expert owning row p (a binary search
// of the offsets), one thread per element, grid-stride; rows past offsets[E] are untouched.
// BACKWARD: dbias[e, n] (+)= the sum of dy[p, n] over e's rows in order, one thread per (e, n):
// deterministic, no atomics. Biases and their gradients f32; y and dy IN_* / OUT_*.
// Loops: forward log2(E) per element; backward one iteration per row of the expert (<= S).
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { MOE_BIAS_PUSH } pc;

void main() {
  BufU32 offsets = BufU32(pc.offsets);
  BufF32 bias = BufF32(pc.bias);
#ifdef BACKWARD
  IN_BUF dy = IN_BUF(pc.y);
  for (uint i = gl_GlobalInvocationID.x; i < pc.experts * pc.cols; i += TOTAL_THREADS) {
    uint e = i / pc.cols, n = i - e * pc.cols;
    uint first = min(offsets.v[e], pc.rows), last = clamp(offsets.v[e + 1], first, pc.rows);
    float sum = 0.0;
    for (uint p = first; p < last; ++p) sum += in_load(dy, p * pc.cols + n);
    uint at = e * pc.bias_ld + n;
    bias.v[at] = (pc.accumulate != 0 ? bias.v[at] : 0.0) + sum;
  }
#else
  OUT_BUF y = OUT_BUF(pc.y);
  uint valid = min(offsets.v[pc.experts], pc.rows);
  for (uint i = gl_GlobalInvocationID.x; i < valid * pc.cols; i += TOTAL_THREADS) {
    uint p = i / pc.cols, n = i - p * pc.cols;
    uint lo = 0, hi = pc.experts;  // the last e with offsets[e] <= p
    while (hi - lo > 1) {
      uint mid = (lo + hi) / 2;
      if (offsets.v[mid] <= p) lo = mid; else hi = mid;
    }
    out_store(y, i, out_load(y, i) + bias.v[lo * pc.bias_ld + n]);
  }
#endif
}

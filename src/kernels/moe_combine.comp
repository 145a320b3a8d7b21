#version 450
// moe_combine: the weighted sum of each token's k expert rows back in token order,
// dst[t, :] (+)= sum over j < k, in order, of (weights[t * k + j] or 1) * src[positions[t * k + j], :];
// without weights it is the backward of moe_gather. Slots whose position lies at or past
// offsets[E] (ids outside [0, E), never multiplied) add nothing. One thread per output element,
// grid-stride; f32 sums, one rounding per stored value; no atomics.
// WEIGHT_GRADIENT: dweights[s] (+)= dot(dy[s / k, :], src[positions[s], :]) (dst holds dy), the
// combine's gradient for the routing weights: one workgroup per slot, a fixed-order tree sum.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { MOE_COMBINE_PUSH } pc;

#ifdef WEIGHT_GRADIENT
shared float partial[256];
#endif

void main() {
  IN_BUF src = IN_BUF(pc.src);
  BufU32 positions = BufU32(pc.positions);
  uint valid = BufU32(pc.offsets).v[pc.experts];
#ifdef WEIGHT_GRADIENT
  IN_BUF dy = IN_BUF(pc.dst);
  uint tid = gl_LocalInvocationID.x;
  for (uint s = gl_WorkGroupID.x; s < pc.tokens * pc.k; s += gl_NumWorkGroups.x) {
    uint p = positions.v[s], t = s / pc.k;
    float sum = 0.0;
    if (p < valid)
      for (uint c = tid; c < pc.cols; c += 256)
        sum += in_load(dy, t * pc.cols + c) * in_load(src, p * pc.cols + c);
    partial[tid] = sum;
    barrier();
    for (uint half_size = 128; half_size > 0; half_size /= 2) {
      if (tid < half_size) partial[tid] += partial[tid + half_size];
      barrier();
    }
    if (tid == 0) {
      BufF32 dweights = BufF32(pc.dweights);
      dweights.v[s] = (pc.accumulate != 0 ? dweights.v[s] : 0.0) + partial[0];
    }
    barrier();
  }
#else
  OUT_BUF dst = OUT_BUF(pc.dst);
  for (uint i = gl_GlobalInvocationID.x; i < pc.tokens * pc.cols; i += TOTAL_THREADS) {
    uint t = i / pc.cols, c = i - t * pc.cols;
    float sum = pc.accumulate != 0 ? out_load(dst, i) : 0.0;
    for (uint j = 0; j < pc.k; ++j) {
      uint s = t * pc.k + j, p = positions.v[s];
      if (p >= valid) continue;
      float w = pc.weights != 0 ? BufF32(pc.weights).v[s] : 1.0;
      sum += w * in_load(src, p * pc.cols + c);
    }
    out_store(dst, i, sum);
  }
#endif
}

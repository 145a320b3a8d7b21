#version 450
// moe_aux: the load-balancing loss of transformers' load_balancing_loss_func,
// L = coef * E * sum_e (c_e / N) (P_e / N), with c_e the selections of expert e and P_e the sum
// of its router probability over the N tokens of every layer (stats rows 0 and 1; the
// probability sums come from ops::column_sum of the router's probs). STAGE 0 adds one layer's
// selections (from the grouping's offsets) to stats[0]; STAGE 1 (one workgroup) writes the loss,
// pc.scale = coef * E / N^2, as a fixed-order tree sum; STAGE 2, one thread per token of one
// layer, writes or adds dlogits[t, e] = s_e (g_e - sum_i s_i g_i), s = softmax(logits[t]),
// g_e = pc.scale * c_e (the selections are constants: the loss has no gradient through them).
// Loops: STAGE 1 E / 256, STAGE 2 about 4 E per thread.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint STAGE = 0;
layout(push_constant) uniform Push { MOE_AUX_PUSH } pc;

shared float partial[256];

void main() {
  BufF32 stats = BufF32(pc.stats);
  uint tid = gl_LocalInvocationID.x;
  if (STAGE == 0) {
    uint e = gl_GlobalInvocationID.x;
    if (e >= pc.experts) return;
    BufU32 offsets = BufU32(pc.offsets);
    float selected = float(offsets.v[e + 1] - offsets.v[e]);
    stats.v[e] = (pc.accumulate != 0 ? stats.v[e] : 0.0) + selected;
  } else if (STAGE == 1) {
    float sum = 0.0;
    for (uint e = tid; e < pc.experts; e += 256) sum += stats.v[e] * stats.v[pc.experts + e];
    partial[tid] = sum;
    barrier();
    for (uint half_size = 128; half_size > 0; half_size /= 2) {
      if (tid < half_size) partial[tid] += partial[tid + half_size];
      barrier();
    }
    if (tid == 0) BufF32(pc.loss).v[0] = pc.scale * partial[0];
  } else {
    uint t = gl_GlobalInvocationID.x;
    if (t >= pc.tokens) return;
    BufF32 logits = BufF32(pc.logits);
    BufF32 dlogits = BufF32(pc.dlogits);
    uint row = t * pc.experts;
    float zmax = logits.v[row];
    for (uint e = 1; e < pc.experts; ++e) zmax = max(zmax, logits.v[row + e]);
    float sum = 0.0, dot_sg = 0.0;
    for (uint e = 0; e < pc.experts; ++e) {
      float q = exp(logits.v[row + e] - zmax);
      sum += q;
      dot_sg += q * stats.v[e];
    }
    dot_sg /= sum;
    for (uint e = 0; e < pc.experts; ++e) {
      float s = exp(logits.v[row + e] - zmax) / sum;
      float d = pc.scale * s * (stats.v[e] - dot_sg);
      dlogits.v[row + e] = (pc.accumulate != 0 ? dlogits.v[row + e] : 0.0) + d;
    }
  }
}

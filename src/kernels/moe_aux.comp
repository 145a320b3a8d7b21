#version 450
// moe_aux: the load-balancing loss of transformers' load_balancing_loss_func,
// L = coef * E * sum_e (c_e / N) (P_e / N), with c_e the selections of expert e and P_e the sum
// of its router probability over the N tokens of every layer that the attention mask keeps
// (all of them without a mask), in stats (moe_push.h). STAGE 0, one workgroup per expert e
// (and one more for N): this layer's c_e and P_e as fixed-order tree sums over its tokens,
// written or added. STAGE 1 (one workgroup): the loss, 0 where N is 0 (transformers: 0 / 0),
// over divisor[0] where given (nothing where that is 0), written or added.
// STAGE 2, one thread per token: dlogits[t, e] (+)= s_e (g_e - sum_i s_i g_i), s =
// softmax(logits[t]), g_e = coef * E * c_e / N^2 (the selections are constants: the loss has no
// gradient through them); 0 for masked tokens.
// Loops: STAGE 0 (T / 256) (k + 1), STAGE 1 E / 256, STAGE 2 about 3 E per thread.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint STAGE = 0;
layout(push_constant) uniform Push { MOE_AUX_PUSH } pc;

shared float partial[2][256];

bool counted(uint t) { return pc.mask == 0 || BufU32(pc.mask).v[t] != 0; }

// Sums partial[0] and partial[1] over the workgroup in a fixed order into element 0.
void tree_sum() {
  uint tid = gl_LocalInvocationID.x;
  barrier();
  for (uint half_size = 128; half_size > 0; half_size /= 2) {
    if (tid < half_size) {
      partial[0][tid] += partial[0][tid + half_size];
      partial[1][tid] += partial[1][tid + half_size];
    }
    barrier();
  }
}

float loss_scale(BufF32 stats) {
  float n = stats.v[pc.experts];
  return n > 0.0 ? pc.coefficient * float(pc.experts) / (n * n) : 0.0;
}

void main() {
  BufF32 stats = BufF32(pc.stats);
  uint tid = gl_LocalInvocationID.x, columns = pc.experts + 1;
  if (STAGE == 0) {
    uint e = gl_WorkGroupID.x;  // e == E: the token count
    float selected = 0.0, prob = 0.0;
    for (uint t = tid; t < pc.tokens; t += 256) {
      if (!counted(t)) continue;
      if (e == pc.experts) {
        selected += 1.0;
        continue;
      }
      for (uint j = 0; j < pc.k; ++j) selected += BufU32(pc.ids).v[t * pc.k + j] == e ? 1.0 : 0.0;
      prob += BufF32(pc.probs).v[t * pc.experts + e];
    }
    partial[0][tid] = selected;
    partial[1][tid] = prob;
    tree_sum();
    if (tid == 0) {
      bool add = pc.accumulate != 0;
      stats.v[e] = (add ? stats.v[e] : 0.0) + partial[0][0];
      stats.v[columns + e] = (add ? stats.v[columns + e] : 0.0) + partial[1][0];
    }
  } else if (STAGE == 1) {
    float sum = 0.0;
    for (uint e = tid; e < pc.experts; e += 256) sum += stats.v[e] * stats.v[columns + e];
    partial[0][tid] = sum;
    partial[1][tid] = 0.0;
    tree_sum();
    if (tid == 0) {
      float divisor = pc.divisor != 0 ? BufF32(pc.divisor).v[0] : 1.0;
      float loss = divisor != 0.0 ? loss_scale(stats) * partial[0][0] / divisor : 0.0;
      BufF32 total = BufF32(pc.loss);
      total.v[0] = (pc.accumulate != 0 ? total.v[0] : 0.0) + loss;
    }
  } else {
    uint t = gl_GlobalInvocationID.x;
    if (t >= pc.tokens) return;
    BufF32 logits = BufF32(pc.logits);
    BufF32 dlogits = BufF32(pc.dlogits);
    uint row = t * pc.experts;
    float scale = counted(t) ? loss_scale(stats) : 0.0;
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
      float d = scale * s * (stats.v[e] - dot_sg);
      dlogits.v[row + e] = (pc.accumulate != 0 ? dlogits.v[row + e] : 0.0) + d;
    }
  }
}

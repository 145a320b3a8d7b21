#version 450
// moe_router: the router of a mixture-of-experts layer, one thread per token over its row of
// f32 logits [T, E]. Forward: the k experts with the largest logits, in descending order, ties
// to the lower expert index (a strict total order, so the choice never depends on the
// hardware), and their weights: mode 0 (Qwen3-MoE, Mixtral) the softmax over all E experts at
// the chosen ones, divided by their sum where pc.normalize is set (norm_topk_prob; Mixtral
// always); mode 1 (gpt-oss) the softmax over the k chosen logits. Choosing on the logits equals
// choosing on the probabilities, which softmax orders the same way. Where pc.probs is set it also
// writes softmax(logits) for the load-balancing loss. A row with NaNs may leave a choice
// unfilled: its id is then E, which grouping puts past every expert. Built with BACKWARD it
// takes dweights [T, k] and writes (or adds) dlogits [T, E] through the same softmax and
// renormalisation, recomputed from the logits. Loops: about (k + 4) E per thread.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { MOE_ROUTER_PUSH } pc;

// Whether expert b comes after expert a in the choice order (larger logit first, then index).
bool after(float za, uint a, float zb, uint b) { return zb < za || (zb == za && b > a); }

void main() {
  uint t = gl_GlobalInvocationID.x;
  if (t >= pc.tokens) return;
  BufF32 logits = BufF32(pc.logits);
  BufU32 ids = BufU32(pc.ids);
  BufF32 weights = BufF32(pc.weights);
  uint row = t * pc.experts, slot = t * pc.k;
  float zmax = logits.v[row];
  for (uint e = 1; e < pc.experts; ++e) zmax = max(zmax, logits.v[row + e]);
  float sum = 0.0;
  for (uint e = 0; e < pc.experts; ++e) sum += exp(logits.v[row + e] - zmax);
#ifndef BACKWARD
  uint previous = pc.experts;
  float zprevious = 0.0;
  for (uint j = 0; j < pc.k; ++j) {
    uint best = pc.experts;
    float zbest = 0.0;
    for (uint e = 0; e < pc.experts; ++e) {
      float z = logits.v[row + e];
      bool eligible = previous == pc.experts || after(zprevious, previous, z, e);
      if (eligible && (best == pc.experts || after(z, e, zbest, best))) {
        best = e;
        zbest = z;
      }
    }
    ids.v[slot + j] = best;
    previous = best;
    zprevious = zbest;
  }
  // Weights from the chosen logits; the first chosen logit is the largest (mode 1's shift).
  float zfirst = logits.v[row + min(ids.v[slot], pc.experts - 1)];
  float chosen = 0.0;
  for (uint j = 0; j < pc.k; ++j) {
    uint e = min(ids.v[slot + j], pc.experts - 1);
    float w = pc.mode == 0 ? exp(logits.v[row + e] - zmax) / sum : exp(logits.v[row + e] - zfirst);
    weights.v[slot + j] = w;
    chosen += w;
  }
  if (pc.mode == 1 || pc.normalize != 0)
    for (uint j = 0; j < pc.k; ++j) weights.v[slot + j] /= chosen;
  if (pc.probs != 0) {
    BufF32 probs = BufF32(pc.probs);
    for (uint e = 0; e < pc.experts; ++e) probs.v[row + e] = exp(logits.v[row + e] - zmax) / sum;
  }
#else
  BufF32 dweights = BufF32(pc.dweights);
  BufF32 dlogits = BufF32(pc.dlogits);
  // The forward's weights, recomputed: u_j (mode 0 the probability, mode 1 exp(z_j - z_first))
  // and the divisor d that renormalises them (1 where none does): w_j = u_j / d.
  float zfirst = logits.v[row + min(ids.v[slot], pc.experts - 1)];
  float chosen = 0.0;
  for (uint j = 0; j < pc.k; ++j) {
    uint e = ids.v[slot + j];
    if (e < pc.experts)
      chosen += pc.mode == 0 ? exp(logits.v[row + e] - zmax) / sum : exp(logits.v[row + e] - zfirst);
  }
  float divisor = pc.mode == 1 || pc.normalize != 0 ? chosen : 1.0;
  // Through the renormalisation: du_j = (dw_j - sum_i dw_i w_i) / d (no sum where d is 1).
  float correction = 0.0;
  if (pc.mode == 1 || pc.normalize != 0)
    for (uint j = 0; j < pc.k; ++j) {
      uint e = ids.v[slot + j];
      if (e >= pc.experts) continue;
      float u = pc.mode == 0 ? exp(logits.v[row + e] - zmax) / sum : exp(logits.v[row + e] - zfirst);
      correction += dweights.v[slot + j] * u / divisor;
    }
  // Through the softmax, u = softmax: mode 0 over all E, dz_e = u_e (du_e - sum_j u_j du_j) with
  // du_e = 0 for experts not chosen; mode 1 over the k chosen, dz_j = w_j (dw_j - sum_i w_i dw_i),
  // which is u_j du_j too.
  float dot_u_du = 0.0;
  if (pc.mode == 0)
    for (uint j = 0; j < pc.k; ++j) {
      uint e = ids.v[slot + j];
      if (e >= pc.experts) continue;
      dot_u_du += exp(logits.v[row + e] - zmax) / sum * (dweights.v[slot + j] - correction) / divisor;
    }
  for (uint e = 0; e < pc.experts; ++e) {
    float base = pc.mode == 0 ? -exp(logits.v[row + e] - zmax) / sum * dot_u_du : 0.0;
    dlogits.v[row + e] = (pc.accumulate != 0 ? dlogits.v[row + e] : 0.0) + base;
  }
  for (uint j = 0; j < pc.k; ++j) {
    uint e = ids.v[slot + j];
    if (e >= pc.experts) continue;
    float du = (dweights.v[slot + j] - correction) / divisor;
    float u = pc.mode == 0 ? exp(logits.v[row + e] - zmax) / sum : exp(logits.v[row + e] - zfirst);
    dlogits.v[row + e] += u * du;
  }
#endif
}

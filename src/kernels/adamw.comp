#version 450
// adamw: one fused AdamW update, in place over flat f32 arenas of parameters, gradients and
// both moments, written as torch.optim.AdamW computes it (decoupled weight decay first, lerp
// for the first moment, bias corrections folded into a step size and sqrt(1 - beta2^t)). The
// per-step values come from a device buffer the host writes before each replay, so one
// recording serves every step; the gradient is scaled by the clipping coefficient
// min(1, max_norm / (norm + 1e-6)) from the squared global norm, as clip_grad_norm_ does.
// Grid-stride over `count` elements of one contiguous range.
#include "common.glsl"
#include "adamw_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { ADAMW_PUSH } pc;

void main() {
  BufF32 step = BufF32(pc.step);
  float decay_factor = step.v[0], step_size = step.v[1], correction2 = step.v[2];
  float clip = 1.0;
  if (pc.norm_sq != 0) clip = min(1.0, pc.max_norm / (sqrt(BufF32(pc.norm_sq).v[0]) + 1e-6));
  BufF32 params = BufF32(pc.params), grads = BufF32(pc.grads), m = BufF32(pc.m),
         v = BufF32(pc.v);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) {
    float g = grads.v[i] * clip;
    float p = params.v[i];
    if (pc.decay != 0) p *= decay_factor;
    float mi = m.v[i];
    mi += pc.one_minus_beta1 * (g - mi);
    float vi = pc.beta2 * v.v[i] + pc.one_minus_beta2 * g * g;
    p -= step_size * mi / (sqrt(vi) / correction2 + pc.eps);
    m.v[i] = mi;
    v.v[i] = vi;
    params.v[i] = p;
  }
}

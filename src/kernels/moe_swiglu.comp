#version 450
// moe_swiglu: gpt-oss's clamped SwiGLU, element-wise: g = min(gate, limit), u = clamp(up,
// -limit, limit), h = (u + 1) * g * sigmoid(alpha * g) (transformers' GptOssExperts._apply_gate
// with alpha 1.702, limit 7). BACKWARD: dgate (+)= dh * (u + 1) * d[g sigmoid(alpha g)]/dg where
// gate <= limit (torch's clamp passes the gradient at its bounds), dup (+)= dh * g sigmoid(alpha
// g) where -limit <= up <= limit. One thread per element, grid-stride, math in f32.
#include "common.glsl"
#include "moe_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { MOE_SWIGLU_PUSH } pc;

void main() {
  IN_BUF gate = IN_BUF(pc.gate), up = IN_BUF(pc.up);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) {
    float x = in_load(gate, i), v = in_load(up, i);
    float g = min(x, pc.limit), u = clamp(v, -pc.limit, pc.limit);
    float s = 1.0 / (1.0 + exp(-pc.alpha * g));
#ifdef BACKWARD
    float dh = in_load(IN_BUF(pc.h), i);
    OUT_BUF dgate = OUT_BUF(pc.dgate), dup = OUT_BUF(pc.dup);
    float d_gate = x <= pc.limit ? dh * (u + 1.0) * s * (1.0 + pc.alpha * g * (1.0 - s)) : 0.0;
    float d_up = abs(v) <= pc.limit ? dh * g * s : 0.0;
    if (pc.accumulate != 0) {
      d_gate += out_load(dgate, i);
      d_up += out_load(dup, i);
    }
    out_store(dgate, i, d_gate);
    out_store(dup, i, d_up);
#else
    out_store(OUT_BUF(pc.h), i, (u + 1.0) * g * s);
#endif
  }
}

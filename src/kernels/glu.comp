#version 450
// glu: the gated unit of SwiGLU / GEGLU feed-forward layers, element-wise over any layout:
// h = act(gate) * up with act = silu (ACT 0) or GELU with the tanh approximation (ACT 1, as
// transformers' gelu_pytorch_tanh). Built with BACKWARD it computes the gradients instead,
// dgate (+)= dh * up * act'(gate), dup (+)= dh * act(gate), adding them where pc.accumulate is
// set and otherwise writing them without reading dgate and dup. All tensors share one dtype
// (IN_*/OUT_* the same); math in f32, one rounding per stored value. A grid-stride loop; 16-bit
// types take vector steps of 8 elements with 16-byte loads and stores, the unaligned head and the
// tail one element each (common.glsl); dgate and dup may not alias the inputs.
#include "common.glsl"
#include "glu_push.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint ACT = 0;
layout(push_constant) uniform Push { GLU_PUSH } pc;

const float kSqrt2OverPi = 0.7978845608028654;
const float kGeluCubic = 0.044715;

// Written through exp so that large |x| saturates to +-1 instead of giving inf / inf.
float tanh_stable(float x) { return 1.0 - 2.0 / (exp(2.0 * x) + 1.0); }
float sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

float act(float x) {
  if (ACT == 0) return x * sigmoid(x);
  return 0.5 * x * (1.0 + tanh_stable(kSqrt2OverPi * (x + kGeluCubic * x * x * x)));
}

float act_derivative(float x) {
  if (ACT == 0) {
    float s = sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
  }
  float t = tanh_stable(kSqrt2OverPi * (x + kGeluCubic * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluCubic * x * x);
}

void main() {
#if IN_BYTES == 2
  uint steps = vector_steps(pc.count, pc.head);
  for (uint j = gl_GlobalInvocationID.x; j < steps; j += TOTAL_THREADS) {
    uint64_t offset = uint64_t(pc.head + VEC * j) * IN_BYTES;
    float g[VEC], u[VEC];
    in_load_vec(pc.gate + offset, g);
    in_load_vec(pc.up + offset, u);
#ifdef BACKWARD
    float dh[VEC], dgate[VEC], dup[VEC];
    in_load_vec(pc.h + offset, dh);
    if (pc.accumulate != 0) {
      out_load_vec(pc.dgate + offset, dgate);
      out_load_vec(pc.dup + offset, dup);
    } else {
      for (uint k = 0; k < VEC; ++k) dgate[k] = dup[k] = 0.0;
    }
    for (uint k = 0; k < VEC; ++k) {
      dgate[k] += dh[k] * u[k] * act_derivative(g[k]);
      dup[k] += dh[k] * act(g[k]);
    }
    out_store_vec(pc.dgate + offset, dgate);
    out_store_vec(pc.dup + offset, dup);
#else
    for (uint k = 0; k < VEC; ++k) g[k] = act(g[k]) * u[k];
    out_store_vec(pc.h + offset, g);
#endif
  }
#endif
  IN_BUF gate = IN_BUF(pc.gate);
  IN_BUF up = IN_BUF(pc.up);
  for (uint k = gl_GlobalInvocationID.x; k < loose_count(pc.count, pc.head); k += TOTAL_THREADS) {
    uint i = loose_element(k, pc.count, pc.head);
    float g = in_load(gate, i), u = in_load(up, i);
#ifdef BACKWARD
    float dh = in_load(IN_BUF(pc.h), i);
    OUT_BUF dgate = OUT_BUF(pc.dgate);
    OUT_BUF dup = OUT_BUF(pc.dup);
    float old_gate = 0.0, old_up = 0.0;
    if (pc.accumulate != 0) {
      old_gate = out_load(dgate, i);
      old_up = out_load(dup, i);
    }
    out_store(dgate, i, old_gate + dh * u * act_derivative(g));
    out_store(dup, i, old_up + dh * act(g));
#else
    out_store(OUT_BUF(pc.h), i, act(g) * u);
#endif
  }
}

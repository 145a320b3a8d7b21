#version 450
// adamw_8bit: AdamW with both moments stored in 8 bits, as bitsandbytes' blockwise Adam8bit
// keeps them: each block of 256 values has one f32 absmax per moment and a code per value into
// a 256-entry dynamic (tree) quantization map, signed for the first moment and unsigned for the
// second. A workgroup of 64 threads owns one block at a time (4 values, one code word, per
// thread): it decodes the moments (map[code] * absmax), runs adamw.comp's f32 update on them
// and the parameters, takes the block's new absmax of each moment (a shared-memory max, so no
// subgroup operation and any subgroup size), and stores each moment as the nearest code of
// value / absmax, ties to the lower code; a first moment below zero that rounds to the zero code
// takes the negative code next to it, so it keeps its sign (bitsandbytes does the same).
// The nearest code is a binary search over the 255 midpoints between neighbouring codes, held in
// shared memory and compared as midpoint * absmax: products are exactly rounded on every device
// where a division is not, so the codes are the same everywhere. Every product and sum of the
// moments is `precise` (no contraction into fma) for the same reason.
// Grid-stride over `blocks` blocks of one contiguous range.
#include "common.glsl"
#include "adamw_8bit_push.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { ADAMW_8BIT_PUSH } pc;

const uint M_MAP = 0, M_MIDPOINTS = 256, V_MAP = 512, V_MIDPOINTS = 768;
shared float table[1024];
shared float m_max[64], v_max[64];

// How many of the 255 midpoints from `midpoints` on lie below x, each scaled by absmax.
uint nearest_code(uint midpoints, float x, float absmax) {
  uint code = 0;
  for (uint step = 128; step > 0; step >>= 1)
    if (code + step <= 255 && x > table[midpoints + code + step - 1] * absmax) code += step;
  return code;
}

void main() {
  const uint t = gl_LocalInvocationID.x;
  BufF32 tables = BufF32(pc.tables);
  for (uint i = t; i < 1024; i += 64) table[i] = tables.v[i];
  BufF32 step = BufF32(pc.step);
  float decay_factor = step.v[0], step_size = step.v[1], correction2 = step.v[2];
  float clip = 1.0;
  if (pc.norm_sq != 0) clip = min(1.0, pc.max_norm / (sqrt(BufF32(pc.norm_sq).v[0]) + 1e-6));
  BufF32 params = BufF32(pc.params), grads = BufF32(pc.grads);
  BufU32 m_codes = BufU32(pc.m_codes), v_codes = BufU32(pc.v_codes);
  BufF32 m_absmax = BufF32(pc.m_absmax), v_absmax = BufF32(pc.v_absmax);
  barrier();
  for (uint block = gl_WorkGroupID.x; block < pc.blocks; block += gl_NumWorkGroups.x) {
    const uint word = block * 64 + t;
    const uint m_word = m_codes.v[word], v_word = v_codes.v[word];
    const float m_scale = m_absmax.v[block], v_scale = v_absmax.v[block];
    precise float m[4], v[4];
    float m_largest = 0.0, v_largest = 0.0;
    for (uint j = 0; j < 4; ++j) {
      const uint i = word * 4 + j;
      precise float g = grads.v[i] * clip;
      precise float mi = table[M_MAP + ((m_word >> (8 * j)) & 255u)] * m_scale;
      mi = mi + pc.one_minus_beta1 * (g - mi);
      precise float vi = table[V_MAP + ((v_word >> (8 * j)) & 255u)] * v_scale;
      vi = pc.beta2 * vi + pc.one_minus_beta2 * g * g;
      float p = params.v[i];
      if (pc.decay != 0) p *= decay_factor;
      p -= step_size * mi / (sqrt(vi) / correction2 + pc.eps);
      params.v[i] = p;
      m[j] = mi;
      v[j] = vi;
      m_largest = max(m_largest, abs(mi));
      v_largest = max(v_largest, vi);
    }
    m_max[t] = m_largest;
    v_max[t] = v_largest;
    barrier();
    for (uint half_size = 32; half_size > 0; half_size >>= 1) {
      if (t < half_size) {
        m_max[t] = max(m_max[t], m_max[t + half_size]);
        v_max[t] = max(v_max[t], v_max[t + half_size]);
      }
      barrier();
    }
    const float m_new = m_max[0], v_new = v_max[0];
    uint m_out = 0, v_out = 0;
    for (uint j = 0; j < 4; ++j) {
      uint c = nearest_code(M_MIDPOINTS, m[j], m_new);
      if (m[j] < 0.0 && table[M_MAP + c] >= 0.0) c -= 1;
      m_out |= c << (8 * j);
      v_out |= nearest_code(V_MIDPOINTS, v[j], v_new) << (8 * j);
    }
    m_codes.v[word] = m_out;
    v_codes.v[word] = v_out;
    if (t == 0) {
      m_absmax.v[block] = m_new;
      v_absmax.v[block] = v_new;
    }
    barrier();  // every thread has read m_max[0] before the next block writes it
  }
}

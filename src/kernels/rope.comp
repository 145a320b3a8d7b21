#version 450
// rope: rotary position embedding in the Hugging Face "rotate half" layout over src [tokens,
// heads, 2 * pairs] (IN_* = OUT_* dtype): for i < pairs and angle = positions[t] * inv_freq[i]
// (i32 positions, f32 inv_freq, an f32 product as transformers computes it), dst[i] = src[i] cos -
// src[i + pairs] sin and dst[i + pairs] = src[i + pairs] cos + src[i] sin. BACKWARD rotates by
// -angle into dst, adding where pc.accumulate is set (dx += R^T dy) and otherwise writing
// without reading dst (dx = R^T dy). A thread takes one (token, i), computes sin and cos
// once and rotates that pair in every head of the token; neighbouring threads take neighbouring
// i, so loads are contiguous. A dispatch covers `rows` head rows starting at head `first_head` of
// its first token (the op cuts where a span ends, which may be inside a token). dst may alias src
// (each pair is read before it is written). sin and cos are computed here, not by the driver
// (Vulkan asks only 2^-11 of them, on [-pi, pi]): a reduction by pi/2 whose products are exact
// for |angle| < 2^17 * pi/2 (~205887), then cephes polynomials, within 2 f32 ulps there.
// Grid-stride over tokens * pairs; rows * 2 * pairs < 2^32.
#include "common.glsl"
#include "rope_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { ROPE_PUSH } pc;

// (sin a, cos a). pi/2 = P1 + P2 + P3 + P4, the first three of at most 7 significant bits so that
// j * Pk is exact for |j| < 2^17 and r = a - j pi/2 in [-pi/4, pi/4] keeps every bit of a;
// `precise` keeps compilers from reassociating the steps.
vec2 sin_cos(float a) {
  float j = round(a * 0.63661977236758134);
  precise float r = a - j * 1.5625;
  r -= j * 0.0081787109375;
  r -= j * 0.00011730194091796875;
  r -= j * 3.1391647326017846e-07;
  float z = r * r;
  float s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * (z * r) + r;
  float c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) *
                (z * z) - (0.5 * z - 1.0);
  switch (int(j) & 3) {
    case 0: return vec2(s, c);
    case 1: return vec2(c, -s);
    case 2: return vec2(-s, -c);
    default: return vec2(-c, s);
  }
}

void main() {
  IN_BUF src = IN_BUF(pc.src);
  OUT_BUF dst = OUT_BUF(pc.dst);
  BufU32 positions = BufU32(pc.positions);
  BufF32 inv_freq = BufF32(pc.inv_freq);
  uint width = 2 * pc.pairs;  // one head row
  uint tokens = (pc.first_head + pc.rows + pc.heads - 1) / pc.heads;
  for (uint g = gl_GlobalInvocationID.x; g < tokens * pc.pairs; g += TOTAL_THREADS) {
    uint t = g / pc.pairs, i = g % pc.pairs;
    vec2 sc = sin_cos(float(int(positions.v[t])) * inv_freq.v[i]);
#ifdef BACKWARD
    sc.x = -sc.x;
#endif
    // Token t's head rows within this dispatch.
    uint begin = max(t * pc.heads, pc.first_head) - pc.first_head;
    uint end = min((t + 1) * pc.heads - pc.first_head, pc.rows);
    for (uint at = begin * width + i; at < end * width; at += width) {
      float a = in_load(src, at), b = in_load(src, at + pc.pairs);
      float ya = a * sc.y - b * sc.x, yb = b * sc.y + a * sc.x;
#ifdef BACKWARD
      if (pc.accumulate != 0) {
        ya += out_load(dst, at);
        yb += out_load(dst, at + pc.pairs);
      }
#endif
      out_store(dst, at, ya);
      out_store(dst, at + pc.pairs, yb);
    }
  }
}

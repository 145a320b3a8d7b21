#version 450
// elementwise: dst = a + b (OP 0), a * b (OP 1) or scale * a (OP 2), all of one dtype
// (IN_*/OUT_* the same), math in f32. OP is a specialization constant, so each op is its own
// pipeline without its own source. 16-bit types take vector steps of 8 elements with 16-byte
// loads and stores, the unaligned head and the tail one element each (common.glsl). `dst` may
// alias `a` or `b` (each element is read, then written by the same thread).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;
layout(push_constant) uniform Push { ELEMENTWISE_PUSH } pc;

float combine(float x, float y) {
  if (OP == 0) return x + y;
  if (OP == 1) return x * y;
  return pc.scale * x;
}

void main() {
#if IN_BYTES == 2
  uint steps = vector_steps(pc.count, pc.head);
  for (uint j = gl_GlobalInvocationID.x; j < steps; j += TOTAL_THREADS) {
    uint64_t offset = uint64_t(pc.head + VEC * j) * IN_BYTES;
    float x[VEC], y[VEC];
    in_load_vec(pc.a + offset, x);
    if (OP != 2) in_load_vec(pc.b + offset, y);
    for (uint k = 0; k < VEC; ++k) x[k] = combine(x[k], y[k]);
    out_store_vec(pc.dst + offset, x);
  }
#endif
  IN_BUF a = IN_BUF(pc.a);
  IN_BUF b = IN_BUF(pc.b);
  OUT_BUF dst = OUT_BUF(pc.dst);
  for (uint k = gl_GlobalInvocationID.x; k < loose_count(pc.count, pc.head); k += TOTAL_THREADS) {
    uint i = loose_element(k, pc.count, pc.head);
    out_store(dst, i, combine(in_load(a, i), OP != 2 ? in_load(b, i) : 0.0));
  }
}

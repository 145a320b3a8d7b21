#version 450
// elementwise: dst = a + b (OP 0), a * b (OP 1) or scale * a (OP 2), all of one dtype
// (IN_*/OUT_* the same), math in f32. OP is a specialization constant, so each op is its own
// pipeline without its own source. `dst` may alias `a` or `b` (each element is read, then written
// by the same thread).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint OP = 0;
layout(push_constant) uniform Push { ELEMENTWISE_PUSH } pc;

void main() {
  IN_BUF a = IN_BUF(pc.a);
  IN_BUF b = IN_BUF(pc.b);
  OUT_BUF dst = OUT_BUF(pc.dst);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) {
    float x = in_load(a, i);
    float y;
    if (OP == 0) y = x + in_load(b, i);
    else if (OP == 1) y = x * in_load(b, i);
    else y = pc.scale * x;
    out_store(dst, i, y);
  }
}

#version 450
// reduce: partials[group] = sum of src[i] (SQUARE = 0) or src[i]^2 (SQUARE = 1) over the elements
// the group's threads visit in a grid-stride loop, accumulated in f32. The tree over the
// workgroup uses shared memory only (no subgroup arithmetic), so the order of additions and
// therefore the bits of the result are the same on every run and every device. A second
// dispatch over the f32 partials (SQUARE = 0) gives the total.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint SQUARE = 0;
layout(push_constant) uniform Push { REDUCE_PUSH } pc;

shared float partial[256];

void main() {
  IN_BUF src = IN_BUF(pc.src);
  float sum = 0.0;
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) {
    float x = in_load(src, i);
    sum += SQUARE == 1 ? x * x : x;
  }
  uint t = gl_LocalInvocationID.x;
  partial[t] = sum;
  barrier();
  for (uint width = 128; width > 0; width >>= 1) {
    if (t < width) partial[t] += partial[t + width];
    barrier();
  }
  if (t == 0) BufF32(pc.partials).v[gl_WorkGroupID.x] = partial[0];
}

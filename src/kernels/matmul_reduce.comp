#version 450
// The second half of a split-K matmul (ops/matmul.cpp): each split wrote its f32 partial
// product of a K range into partials [splits, M, N]; this sums them in split order (the same
// bits on every run) and applies alpha and beta into C (OUT_*), whose rows are ldc apart.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { MATMUL_REDUCE_PUSH } pc;

void main() {
  BufF32 partials = BufF32(pc.partials);
  OUT_BUF c = OUT_BUF(pc.c);
  const uint count = pc.M * pc.N;
  for (uint i = gl_GlobalInvocationID.x; i < count; i += TOTAL_THREADS) {
    float sum = 0.0;
    for (uint s = 0; s < pc.splits; ++s) sum += partials.v[s * count + i];
    uint at = (i / pc.N) * pc.ldc + i % pc.N;
    float y = pc.alpha * sum;
    if (pc.beta != 0.0) y += pc.beta * out_load(c, at);
    out_store(c, at, y);
  }
}

#version 450
// dropout: dst = (accumulate ? dst : 0) + src * keep / (1 - p), all of one dtype (IN_*/OUT_* the
// same), math in f32. keep comes from dropout_hash (lora_push.h) of the seed (read from an i32
// tensor [1] on the device), the per-call salt and the element's index in the whole tensor, so
// the same (seed, salt) gives the same mask in forward and backward and on every span. One
// thread per element in a grid-stride loop; the op dispatches once per contiguous piece. `dst`
// may alias `src`.
#include "common.glsl"
#include "lora_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { DROPOUT_PUSH } pc;

void main() {
  IN_BUF src = IN_BUF(pc.src);
  OUT_BUF dst = OUT_BUF(pc.dst);
  uint key = dropout_key(BufU32(pc.seed).v[0], pc.salt);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS) {
    uint64_t index = pc.first + uint64_t(i);
    bool keep = dropout_keeps(key, uint(index), uint(index >> 32), pc.threshold);
    float y = keep ? in_load(src, i) * pc.scale : 0.0;
    if (pc.accumulate != 0) y += out_load(dst, i);
    out_store(dst, i, y);
  }
}

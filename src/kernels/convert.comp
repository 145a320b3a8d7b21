#version 450
// convert: dst[i] = src[i] between f32, f16 and bf16 (IN_* / OUT_* defines), rounding to nearest
// even. Grid-stride loop over one contiguous span per dispatch.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { CONVERT_PUSH } pc;

void main() {
  IN_BUF src = IN_BUF(pc.src);
  OUT_BUF dst = OUT_BUF(pc.dst);
  for (uint i = gl_GlobalInvocationID.x; i < pc.count; i += TOTAL_THREADS)
    out_store(dst, i, in_load(src, i));
}

#version 450
// bias_add: y[r, c] += bias[c] for a row-major [rows, cols] matrix y (OUT_* dtype) and an f32
// bias, math in f32. One thread per column and chunk of rows (workgroup y), so each thread loads
// its bias once and neighbouring threads touch neighbouring elements; no per-element division.
// The op dispatches once per span of y's rows.
#include "common.glsl"
#include "lora_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { BIAS_ADD_PUSH } pc;

void main() {
  uint c = gl_GlobalInvocationID.x;
  if (c >= pc.cols) return;
  uint first = gl_WorkGroupID.y * pc.rows_per_chunk;
  uint last = min(first + pc.rows_per_chunk, pc.rows);
  OUT_BUF y = OUT_BUF(pc.y);
  float b = BufF32(pc.bias).v[c];
  for (uint r = first; r < last; ++r) {
    uint at = r * pc.cols + c;
    out_store(y, at, out_load(y, at) + b);
  }
}

#version 450
// column_sum: f32 sums over the rows of a row-major [rows, cols] matrix (IN_* dtype), one
// thread per column and chunk of rows (workgroup y), summing its rows in order. The op runs it
// twice: chunks -> f32 partials [chunks, cols], then partials -> the result (IN_F32). The chunk
// count depends only on the shape, so the bits of the result are the same on every run and
// every device: this is how weight and bias gradients are reduced without atomics.
#include "common.glsl"
#include "column_sum_push.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { COLUMN_SUM_PUSH } pc;

void main() {
  uint c = gl_GlobalInvocationID.x;
  if (c >= pc.cols) return;
  uint first = gl_WorkGroupID.y * pc.rows_per_chunk;
  uint last = min(first + pc.rows_per_chunk, pc.rows);
  IN_BUF src = IN_BUF(pc.src);
  float sum = 0.0;
  for (uint r = first; r < last; ++r) sum += in_load(src, r * pc.cols + c);
  BufF32 dst = BufF32(pc.dst);
  uint at = gl_WorkGroupID.y * pc.cols + c;
  dst.v[at] = pc.accumulate != 0 ? dst.v[at] + sum : sum;
}

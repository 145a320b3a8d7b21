#version 450
// rmsnorm: y = x * rstd * (offset + w) over the rows of a row-major [rows, cols] matrix (IN_* =
// OUT_* dtype, w f32 [cols]), rstd = 1 / sqrt(mean(x^2) + eps) kept as f32 per row. BACKWARD:
// dx (+)= the gradient of sum(dy * y) by x, from the saved rstd (added where pc.accumulate is
// set, otherwise written without reading dx), and with WEIGHT_GRADIENT f32 partial
// sums of the weight gradient dy * x * rstd per chunk of rows (workgroup), which the op sums with
// column_sum; without it (a frozen weight) the kernel does no weight-gradient work at all.
// A workgroup of 256 threads holds 256 / THREADS_PER_ROW rows at a time; a row's threads take
// its columns THREADS_PER_ROW apart (contiguous loads) and keep their PER_THREAD values in
// registers, so x and dy are read once. Row sums are shared-memory trees of fixed order (no
// subgroup operations, no atomics): the same bits on every run. Limits: cols <= THREADS_PER_ROW *
// PER_THREAD (the op picks both from cols), rows * cols < 2^32 per dispatch.
#include "common.glsl"
#include "rmsnorm_push.h"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint THREADS_PER_ROW = 256;  // a power of two, at most 256
layout(constant_id = 1) const uint PER_THREAD = 8;         // columns each thread holds
layout(constant_id = 2) const bool WEIGHT_GRADIENT = false;
#ifdef BACKWARD
layout(push_constant) uniform Push { RMSNORM_BACKWARD_PUSH } pc;
#else
layout(push_constant) uniform Push { RMSNORM_FORWARD_PUSH } pc;
#endif

const uint ROWS_PER_GROUP = 256 / THREADS_PER_ROW;
shared float partial[256];

// The sum of `value` over the threads of this thread's row, in a fixed tree order; every thread
// of the row gets it. The whole workgroup calls it together (it holds barriers).
float row_sum(float value) {
  uint t = gl_LocalInvocationID.x, lane = t % THREADS_PER_ROW;
  partial[t] = value;
  barrier();
  for (uint width = THREADS_PER_ROW / 2; width > 0; width >>= 1) {
    if (lane < width) partial[t] += partial[t + width];
    barrier();
  }
  float total = partial[t - lane];
  barrier();  // before the next call writes partial again
  return total;
}

#ifndef BACKWARD
void main() {
  uint lane = gl_LocalInvocationID.x % THREADS_PER_ROW;
  uint row = gl_WorkGroupID.x * ROWS_PER_GROUP + gl_LocalInvocationID.x / THREADS_PER_ROW;
  bool has_row = row < pc.rows;
  IN_BUF x = IN_BUF(pc.x);
  float v[PER_THREAD];
  float squares = 0.0;
  for (uint k = 0; k < PER_THREAD; ++k) {
    uint c = lane + k * THREADS_PER_ROW;
    v[k] = 0.0;
    if (has_row && c < pc.cols) v[k] = in_load(x, row * pc.cols + c);
    squares += v[k] * v[k];
  }
  float rstd = inversesqrt(row_sum(squares) / float(pc.cols) + pc.eps);
  if (!has_row) return;
  BufF32 w = BufF32(pc.w);
  OUT_BUF y = OUT_BUF(pc.y);
  for (uint k = 0; k < PER_THREAD; ++k) {
    uint c = lane + k * THREADS_PER_ROW;
    if (c < pc.cols) out_store(y, row * pc.cols + c, v[k] * rstd * (pc.offset + w.v[c]));
  }
  if (lane == 0 && pc.rstd != 0) BufF32(pc.rstd).v[row] = rstd;
}
#else
void main() {
  uint lane = gl_LocalInvocationID.x % THREADS_PER_ROW;
  uint segment = gl_LocalInvocationID.x / THREADS_PER_ROW;
  uint first = gl_WorkGroupID.x * pc.rows_per_chunk;
  uint last = min(first + pc.rows_per_chunk, pc.rows);
  BufF32 w = BufF32(pc.w);
  float g[PER_THREAD], dw[PER_THREAD];  // offset + w of this thread's columns; dw partial sums
  for (uint k = 0; k < PER_THREAD; ++k) {
    uint c = lane + k * THREADS_PER_ROW;
    g[k] = 0.0;
    if (c < pc.cols) g[k] = pc.offset + w.v[c];
    dw[k] = 0.0;
  }
  IN_BUF x = IN_BUF(pc.x);
  IN_BUF dy = IN_BUF(pc.dy);
  OUT_BUF dx = OUT_BUF(pc.dx);
  // rows_per_chunk is a multiple of ROWS_PER_GROUP: every thread takes the same number of steps.
  for (uint row = first + segment; row < first + pc.rows_per_chunk; row += ROWS_PER_GROUP) {
    bool has_row = row < last;
    float rstd = 0.0;
    if (has_row) rstd = BufF32(pc.rstd).v[row];
    float xv[PER_THREAD], gy[PER_THREAD];  // x and dy * (offset + w)
    float dot = 0.0;
    for (uint k = 0; k < PER_THREAD; ++k) {
      uint c = lane + k * THREADS_PER_ROW;
      xv[k] = 0.0;
      gy[k] = 0.0;
      if (has_row && c < pc.cols) {
        float d = in_load(dy, row * pc.cols + c);
        xv[k] = in_load(x, row * pc.cols + c);
        gy[k] = d * g[k];
        if (WEIGHT_GRADIENT) dw[k] += d * (xv[k] * rstd);
      }
      dot += gy[k] * xv[k];
    }
    // y = x rstd g with rstd = (mean(x^2) + eps)^-1/2: dx = rstd g dy - x rstd^3 sum(g dy x) / cols
    float coefficient = rstd * rstd * rstd * row_sum(dot) / float(pc.cols);
    if (!has_row) continue;
    for (uint k = 0; k < PER_THREAD; ++k) {
      uint c = lane + k * THREADS_PER_ROW;
      uint at = row * pc.cols + c;
      if (c >= pc.cols) continue;
      float grad = rstd * gy[k] - coefficient * xv[k];
      if (pc.accumulate != 0) grad += out_load(dx, at);
      out_store(dx, at, grad);
    }
  }
  if (!WEIGHT_GRADIENT) return;
  // One partial row per chunk: the rows' segments summed in order.
  BufF32 partials = BufF32(pc.partials);
  uint t = gl_LocalInvocationID.x;
  for (uint k = 0; k < PER_THREAD; ++k) {
    partial[t] = dw[k];
    barrier();
    uint c = lane + k * THREADS_PER_ROW;
    if (segment == 0 && c < pc.cols) {
      float sum = 0.0;
      for (uint s = 0; s < ROWS_PER_GROUP; ++s) sum += partial[s * THREADS_PER_ROW + lane];
      partials.v[gl_WorkGroupID.x * pc.cols + c] = sum;
    }
    barrier();
  }
}
#endif

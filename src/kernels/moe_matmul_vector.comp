#version 450
// moe_matmul (vector): y[s] = alpha * x[s] w[e(s)]^T + beta * y[s] for few grouped rows (a
// generation step's S = T * k, ops/moe_matmul.hpp) and w in a ggml block format (BLOCK_<type>,
// quant.glsl): only the experts that own rows are read, each block once per chunk of at most
// MAX_M of an expert's rows, where the slab path decodes all E. Workgroup row y = s is grouped row
// s; it runs only where s starts a chunk (s - offsets[e(s)] a multiple of MAX_M), so an expert
// without rows costs nothing, and rows at or past offsets[E] (invalid ids) are never touched. Its
// workgroup columns own rows n of the expert's band in turn, each as matmul_vector.glsl's
// vector_column reads and sums it.
// Push (MOE_MATMUL_PUSH): a = x [M = S, K] (lda), c = y [S, N] (ldc), b = expert 0's first band
// row, b_expert_stride the bytes from one expert's matrix to the next, ldb = Q (a row's values),
// experts = E; trans_b, first_expert are unused (x w^T over all experts only: a decode step has no
// backward). Offsets are clamped to the S rows as moe_matmul.glsl's are.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "quant.glsl"
#include "moe_push.h"

layout(constant_id = 0) const uint MAX_M = 8;
const uint THREADS = 64;
layout(local_size_x = THREADS) in;

layout(push_constant) uniform Push { MOE_MATMUL_PUSH } pc;

#include "matmul_vector.glsl"

void main() {
  const uint s = gl_WorkGroupID.y;
  BufU32 offsets = BufU32(pc.offsets);
  if (s >= min(offsets.v[pc.experts], pc.M)) return;  // past every expert's rows
  // The expert owning row s: the last e with offsets[e] <= s (offsets[0] <= s < offsets[E]).
  uint lo = 0, hi = pc.experts - 1;
  while (lo < hi) {
    const uint mid = (lo + hi + 1) / 2;
    if (min(offsets.v[mid], pc.M) <= s) lo = mid; else hi = mid - 1;
  }
  const uint first = min(offsets.v[lo], pc.M);
  if ((s - first) % MAX_M != 0) return;  // another workgroup's chunk: uniform, before any barrier
  const uint rows = min(clamp(offsets.v[lo + 1], first, pc.M) - s, MAX_M);
  IN_BUF a = IN_BUF(pc.a + uint64_t(s) * pc.lda * IN_BYTES);
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(s) * pc.ldc * OUT_BYTES);
  const uint64_t w = pc.b + uint64_t(lo) * pc.b_expert_stride;
  for (uint n = gl_WorkGroupID.x; n < pc.N; n += gl_NumWorkGroups.x)
    vector_column(a, pc.lda, w + uint64_t(n) * quant_row_bytes(pc.ldb), pc.K, rows, c, pc.ldc, n,
                  pc.alpha, pc.beta);
}

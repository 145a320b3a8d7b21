#version 450
// moe_matmul (portable): the experts' products over tokens grouped by expert (ops/moe_group),
// all experts in one dispatch. Expert e's rows of A and C are [offsets[e], offsets[e + 1]).
//   default (ROWS): C[p, n] = alpha * sum_r A[p, r] B_e(r, n) + beta * C[p, n] for each row p of
//     expert e in [first_expert, first_expert + experts), A [S, K] (lda), B_e at
//     pc.b + (e - first_expert) * b_expert_stride: [N, K] (ldb) with trans_b, else [K, N].
//     Workgroup x walks N tiles; workgroup y is a tile of some expert's rows: every workgroup
//     finds its (expert, tile) from the offsets, counting each expert's ceil(rows / BM) tiles in
//     order; the op dispatches ceil(S / BM) + experts of them (an upper bound) and the rest exit
//     at once. No per-expert dispatch, no host round trip. A range of experts (first_expert > 0
//     or fewer than all) is a slab of a block-quantized weight, decoded for those experts only.
//   WEIGHT_GRADIENT: C_e[m, n] = alpha * sum over expert e's rows p of A[p, m] B[p, n] + beta *
//     C_e[m, n], C_e at pc.c + e * c_expert_stride ([M, N], ldc): the weight gradient dY^T X.
//     Workgroup (x, y) is an (N, M) tile of C_e, z the expert; the sum runs over its rows
//     (pc.K holds S here).
// Tiles: BM x BN = 64 x 64, BK = 16 through shared memory, 256 threads with 4 x 4 accumulators
// each (rows ty + 16 i, columns tx + 16 j); inputs IN_* (f32, f16, bf16), C OUT_*, f32 sums;
// edges zero-padded on load and masked on store; beta == 0 never reads C.
// Loops per invocation: about E (finding the tile) + 128 per BK step of the reduction.
#include "common.glsl"
#include "moe_push.h"
#include "moe_matmul.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { MOE_MATMUL_PUSH } pc;

const uint BM = 64, BN = 64, BK = 16;
shared float tile_a[BK][BM];
shared float tile_b[BK][BN];

void main() {
  const uint tid = gl_LocalInvocationID.x, tx = tid % 16, ty = tid / 16;
  IN_BUF a = IN_BUF(pc.a);
  uint n0 = gl_WorkGroupID.x * BN;
#ifdef WEIGHT_GRADIENT
  uint e = gl_WorkGroupID.z;
  uint m0 = gl_WorkGroupID.y * BM;
  uint first, reduction;
  moe_expert_rows(pc.offsets, e, pc.K, first, reduction);  // pc.K holds S here
  IN_BUF b = IN_BUF(pc.b);
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(e) * pc.c_expert_stride * OUT_BYTES);
  uint m_end = pc.M;
#else
  uint e, m0, m_end;
  if (!moe_row_tile(pc.offsets, pc.first_expert, pc.experts, pc.M, BM, gl_WorkGroupID.y, e, m0,
                    m_end))
    return;
  uint reduction = pc.K;
  IN_BUF b = IN_BUF(pc.b + uint64_t(e - pc.first_expert) * pc.b_expert_stride * IN_BYTES);
  OUT_BUF c = OUT_BUF(pc.c);
#endif

  float acc[4][4];
  for (uint i = 0; i < 4; ++i)
    for (uint j = 0; j < 4; ++j) acc[i][j] = 0.0;

  for (uint r0 = 0; r0 < reduction; r0 += BK) {
    // Consecutive threads read consecutive addresses of whichever layout each operand has.
    for (uint l = tid; l < BM * BK; l += 256) {
#ifdef WEIGHT_GRADIENT
      uint m = l % BM, r = l / BM;  // A is [rows, M]: m is contiguous
      bool inside = m0 + m < m_end && r0 + r < reduction;
      tile_a[r][m] = inside ? in_load(a, (first + r0 + r) * pc.lda + m0 + m) : 0.0;
#else
      uint r = l % BK, m = l / BK;  // A is [S, K]: r is contiguous
      bool inside = m0 + m < m_end && r0 + r < reduction;
      tile_a[r][m] = inside ? in_load(a, (m0 + m) * pc.lda + r0 + r) : 0.0;
#endif
    }
    for (uint l = tid; l < BN * BK; l += 256) {
#ifdef WEIGHT_GRADIENT
      uint n = l % BN, r = l / BN;
      bool inside = n0 + n < pc.N && r0 + r < reduction;
      tile_b[r][n] = inside ? in_load(b, (first + r0 + r) * pc.ldb + n0 + n) : 0.0;
#else
      bool transposed = pc.trans_b != 0;
      uint n = transposed ? l / BK : l % BN, r = transposed ? l % BK : l / BN;
      bool inside = n0 + n < pc.N && r0 + r < reduction;
      uint at = transposed ? (n0 + n) * pc.ldb + r0 + r : (r0 + r) * pc.ldb + n0 + n;
      tile_b[r][n] = inside ? in_load(b, at) : 0.0;
#endif
    }
    barrier();
    for (uint r = 0; r < BK; ++r) {
      float av[4], bv[4];
      for (uint i = 0; i < 4; ++i) av[i] = tile_a[r][ty + 16 * i];
      for (uint j = 0; j < 4; ++j) bv[j] = tile_b[r][tx + 16 * j];
      for (uint i = 0; i < 4; ++i)
        for (uint j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    barrier();
  }

  for (uint i = 0; i < 4; ++i) {
    uint m = m0 + ty + 16 * i;
    if (m >= m_end) continue;
    for (uint j = 0; j < 4; ++j) {
      uint n = n0 + tx + 16 * j;
      if (n >= pc.N) continue;
      uint at = m * pc.ldc + n;
      float old = pc.beta != 0.0 ? pc.beta * out_load(c, at) : 0.0;
      out_store(c, at, pc.alpha * acc[i][j] + old);
    }
  }
}

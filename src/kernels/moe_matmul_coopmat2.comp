#version 450
// moe_matmul on GL_NV_cooperative_matrix2: the contract and the two modes of moe_matmul.comp (read
// its header: each expert's rows, one dispatch over an upper bound of (expert, tile) workgroups
// that find their expert from the offsets; WEIGHT_GRADIENT: dY^T X per expert over its rows), f16
// (IN_F16) or bf16 (IN_BF16) inputs, f32 sums, C f32 or the input type. Workgroup-scope matrices
// (BM x BK, BK x BN, BM x BN) load straight from memory through tensor layouts, as in
// matmul_coopmat2.comp; a tensor view with permuted dimensions reads a transposed operand (the
// weight of x W^T, dY of dY^T X). The ragged edges are the experts':
// - ROWS: the layout of C has the expert's end as its row count, sliced from the tile's first
//   row, so stores past the expert are dropped. A's rows past the expert need no zeros: row m of
//   the product reads only row m of A, so a tile that runs into the next expert's rows computes
//   rows that are never stored. A and B therefore load unclamped (the compiler's wide,
//   asynchronous copies; on the H100 most of the dense kernel's speed) wherever the tile lies
//   inside the S rows and N, rows are 16-byte aligned, and for every whole BK step; only a K
//   tail, the last tiles of the S rows and N's edge load clamped. C is stored unclamped where the
//   tile lies inside its expert.
// - WEIGHT_GRADIENT: the reduction runs over the expert's rows, which end anywhere: whole BK
//   steps load unclamped where the tile of dW lies inside and rows are aligned, the tail step
//   through layouts whose row count is the expert's end (both operands read zero past it).
// Alignment is read from the push constants (every address and row 16-byte aligned), so the op
// needs no flag for it. Tiles are the op's choice (ops/moe_matmul.cpp says why).
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#if defined(IN_BF16)
#extension GL_EXT_bfloat16 : require
#define ELEM bfloat16_t
#else
#define ELEM float16_t
#endif
#include "common.glsl"
#include "moe_push.h"
#include "moe_matmul.glsl"

layout(constant_id = 0) const uint TRANS_B = 1;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 64;
layout(local_size_x_id = 4) in;

layout(push_constant) uniform Push { MOE_MATMUL_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 2) buffer BufElem { ELEM v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufElemAligned { ELEM v[]; };

#define ACC coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>
#define MAT_A coopmat<ELEM, gl_ScopeWorkgroup, BM, BK, gl_MatrixUseA>
#define MAT_B coopmat<ELEM, gl_ScopeWorkgroup, BK, BN, gl_MatrixUseB>
#if defined(OUT_F32)
#define C_ELEM float
#define C_BYTES 4
#else
#define C_ELEM ELEM
#define C_BYTES 2
#endif
#define C_MAT coopmat<C_ELEM, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>
layout(buffer_reference, std430, buffer_reference_align = C_BYTES) buffer BufC { C_ELEM v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufCAligned { C_ELEM v[]; };

#ifdef WEIGHT_GRADIENT
// A is dY [S, M] read as its transpose, B is X [S, N]: the reduction runs along their rows.
#define LOAD_A(ma, a, la, k0) \
  coopMatLoadTensorNV(ma, a.v, 0, sliceTensorLayoutNV(la, row0 + k0, BK, m0, BM), transposed);
#define LOAD_B(mb, b, lb, k0) \
  coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, row0 + k0, BK, n0, BN));
#else
// A is [S, K]; B (the expert's weight) is [N, K] with TRANS_B, else [K, N].
#define LOAD_A(ma, a, la, k0) \
  coopMatLoadTensorNV(ma, a.v, 0, sliceTensorLayoutNV(la, m0, BM, k0, BK));
#define LOAD_B(mb, b, lb, k0)                                                                  \
  if (TRANS_B == 0)                                                                            \
    coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, k0, BK, n0, BN));                  \
  else                                                                                         \
    coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, n0, BN, k0, BK), transposed);
#endif

// acc += the product over reduction steps [k_begin, k_end) through layouts la, lb.
#define ACCUMULATE(a, b, la, lb, k_begin, k_end)    \
  for (uint k0 = k_begin; k0 < k_end; k0 += BK) {  \
    MAT_A ma;                                       \
    MAT_B mb;                                       \
    LOAD_A(ma, a, la, k0)                           \
    LOAD_B(mb, b, lb, k0)                           \
    acc = coopMatMulAdd(ma, mb, acc);               \
  }

// The stored shapes of A and B, A's stored rows `rows` (and B's: the weight gradient's operands
// share their rows).
#ifdef WEIGHT_GRADIENT
#define SHAPE_LAYOUTS(la, lb, rows)                  \
  la = setTensorLayoutDimensionNV(la, rows, pc.M);   \
  lb = setTensorLayoutDimensionNV(lb, rows, pc.N);
#else
#define SHAPE_LAYOUTS(la, lb, rows)                                                      \
  la = setTensorLayoutDimensionNV(la, rows, pc.K);                                       \
  lb = TRANS_B == 0 ? setTensorLayoutDimensionNV(lb, pc.K, pc.N)                         \
                    : setTensorLayoutDimensionNV(lb, pc.N, pc.K);
#endif

// C = alpha acc + beta C through layout lc over buffer c, rows from m0, columns from n0.
#define WRITE_C(c, lc)                                                                   \
  {                                                                                      \
    acc = acc * pc.alpha;                                                                \
    if (pc.beta != 0.0) {                                                                \
      C_MAT old;                                                                         \
      coopMatLoadTensorNV(old, c.v, 0, sliceTensorLayoutNV(lc, m0, BM, n0, BN));         \
      acc = acc + ACC(old) * pc.beta;                                                    \
    }                                                                                    \
    C_MAT result = C_MAT(acc);                                                           \
    coopMatStoreTensorNV(result, c.v, 0, sliceTensorLayoutNV(lc, m0, BM, n0, BN));       \
  }

void main() {
  const uint n0 = gl_WorkGroupID.x * BN;
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);
#ifdef WEIGHT_GRADIENT
  const uint e = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * BM, m_end = pc.M;
  uint row0, reduction;
  moe_expert_rows(pc.offsets, e, pc.K, row0, reduction);  // pc.K holds S here
  const uint64_t a_at = pc.a, b_at = pc.b;
  const uint64_t c_at = pc.c + uint64_t(e) * pc.c_expert_stride * C_BYTES;
  // Both operands end at the expert's last row, clamped or not: unclamped steps stay before it.
  const uint rows = row0 + reduction, fast_rows = rows;
#else
  uint e, m0, m_end;
  if (!moe_row_tile(pc.offsets, pc.first_expert, pc.experts, pc.M, BM, gl_WorkGroupID.y, e, m0,
                    m_end))
    return;
  const uint reduction = pc.K;
  const uint64_t a_at = pc.a;
  const uint64_t b_at = pc.b + uint64_t(e - pc.first_expert) * pc.b_expert_stride * 2;
  const uint64_t c_at = pc.c;
  // Clamped loads read zeros past the expert's rows; unclamped ones may read on to S.
  const uint rows = m_end, fast_rows = pc.M;
#endif
  const bool inside = m0 + BM <= pc.M && n0 + BN <= pc.N;
  const uint fast_end = reduction / BK * BK;  // whole steps
  const bool loads_aligned =
      ((uint(a_at) | uint(b_at)) & 15u) == 0 && (pc.lda & 7u) == 0 && (pc.ldb & 7u) == 0;

  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_a =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_b =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  SHAPE_LAYOUTS(layout_a, layout_b, rows)
  layout_a = setTensorLayoutStrideNV(layout_a, pc.lda, 1);
  layout_b = setTensorLayoutStrideNV(layout_b, pc.ldb, 1);

  ACC acc = ACC(0.0);
  uint k_clamped = 0;  // where the clamped steps start
  if (loads_aligned && inside) {
    // Masking the strides tells the compiler what loads_aligned checked.
    tensorLayoutNV<2> fast_a = createTensorLayoutNV(2);
    tensorLayoutNV<2> fast_b = createTensorLayoutNV(2);
    SHAPE_LAYOUTS(fast_a, fast_b, fast_rows)
    fast_a = setTensorLayoutStrideNV(fast_a, pc.lda & ~7u, 1);
    fast_b = setTensorLayoutStrideNV(fast_b, pc.ldb & ~7u, 1);
    BufElemAligned a = BufElemAligned(a_at);
    BufElemAligned b = BufElemAligned(b_at);
    ACCUMULATE(a, b, fast_a, fast_b, 0, fast_end)
    k_clamped = fast_end;
  }
  if (k_clamped < reduction) {
    BufElem a = BufElem(a_at);
    BufElem b = BufElem(b_at);
    ACCUMULATE(a, b, layout_a, layout_b, k_clamped, reduction)
  }

  // C's rows end at the expert's (ROWS) or at M; only a tile inside them stores unclamped.
  if ((uint(c_at) & 15u) == 0 && (pc.ldc * C_BYTES) % 16 == 0 && m0 + BM <= m_end &&
      n0 + BN <= pc.N) {
    tensorLayoutNV<2> fast_c = createTensorLayoutNV(2);
    fast_c = setTensorLayoutDimensionNV(fast_c, m_end, pc.N);
    fast_c = setTensorLayoutStrideNV(fast_c, pc.ldc & ~(16u / C_BYTES - 1u), 1);
    BufCAligned c = BufCAligned(c_at);
    WRITE_C(c, fast_c)
  } else {
    tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_c =
        createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
    layout_c = setTensorLayoutDimensionNV(layout_c, m_end, pc.N);
    layout_c = setTensorLayoutStrideNV(layout_c, pc.ldc, 1);
    BufC c = BufC(c_at);
    WRITE_C(c, layout_c)
  }
}

#version 450
// matmul on GL_NV_cooperative_matrix2: the same contract as matmul.comp with f16 (IN_F16) or bf16
// (IN_BF16, GL_EXT_bfloat16) inputs and f32 or input-typed C. Workgroup-scope matrices (BM x BK, BK x BN, BM x BN) are loaded straight from memory
// through tensor layouts, and a tensor view with a permuted dimension order reads a transposed
// operand; the compiler stages through shared memory. Two ways to load and store:
// - interior tiles of an aligned product (pc.aligned: 16-byte aligned rows of A, B and C, K a
//   multiple of BK) use unclamped layouts over 16-byte aligned references, which lets the
//   compiler issue wide, asynchronous copies and unpredicated stores; on the H100 this is most of
//   the speed (bench/RESULTS.md: the loads 97.6 -> 267 TFLOP/s at 4096^3 on an H200; the stores
//   of C 220 -> 238 TFLOP/s for 4096x6144x2048);
// - edge tiles and everything else use clamped layouts: loads past an edge return zero and
//   stores past an edge are dropped (clamp mode "constant").
// With BLOCK (and BLOCK_<type>) B is a frozen weight in a ggml block format, as in matmul.comp
// (pc.ldb its row length in values, pc.stride_b in bytes). Its layout counts in blocks (block
// size 1 x QUANT_ELEMENTS along its rows, a row stride of its blocks per row), and the load calls
// decode_b for each element: the block's address and the value's place in it go to quant.glsl's
// one-value decode (the run's header words and one word of each quant plane, the f16 scale
// converted in hardware), whose float is rounded to A's type. The load wants a 16-byte-aligned
// base, which a weight's rows or split-K parts need not start at: the base is rounded down and
// the decode adds the difference back. Interior tiles of an aligned product whose B needs no
// such difference load B unclamped too (H100, 4096^3: q8_0 38-40 -> 68-69 TFLOP/s).
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
#ifdef BLOCK
#include "quant.glsl"
#endif

layout(constant_id = 0) const uint TRANS_A = 0;
layout(constant_id = 1) const uint TRANS_B = 0;
layout(constant_id = 2) const uint BM = 128;
layout(constant_id = 3) const uint BN = 128;
layout(constant_id = 4) const uint BK = 32;
layout(local_size_x_id = 5) in;
layout(constant_id = 6) const uint TRANS_B2 = 0;

layout(push_constant) uniform Push { MATMUL_PUSH } pc;

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
#define C_MASK (~(16u / C_BYTES - 1u))  // ldc in whole 16-byte vectors, as pc.aligned promises
#define C_MAT coopmat<C_ELEM, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>
layout(buffer_reference, std430, buffer_reference_align = C_BYTES) buffer BufC { C_ELEM v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufCAligned { C_ELEM v[]; };

// C = acc + beta C through layout lc over buffer c (acc already holds alpha's products).
#define WRITE_C(c, lc)                                                                       \
  {                                                                                          \
    if (pc.beta != 0.0) {                                                                    \
      C_MAT old;                                                                             \
      coopMatLoadTensorNV(old, c.v, 0, sliceTensorLayoutNV(lc, m0, BM, n0, BN));             \
      acc = acc + ACC(old) * pc.beta;                                                        \
    }                                                                                        \
    C_MAT result = C_MAT(acc);                                                               \
    coopMatStoreTensorNV(result, c.v, 0, sliceTensorLayoutNV(lc, m0, BM, n0, BN));           \
  }

// The layouts (clamped or not) of the stored operands: A is M x K (K x M transposed), B is K x N
// (N x K transposed).
#define SHAPE_LAYOUTS(la, lb)                                                                \
  la = TRANS_A == 0 ? setTensorLayoutDimensionNV(la, pc.M, pc.K)                              \
                    : setTensorLayoutDimensionNV(la, pc.K, pc.M);                             \
  lb = TRANS_B == 0 ? setTensorLayoutDimensionNV(lb, pc.K, pc.N)                              \
                    : setTensorLayoutDimensionNV(lb, pc.N, pc.K);

#ifdef BLOCK
// One block of B, as the decoded load addresses it, and B's blocks from a 16-byte aligned base.
layout(buffer_reference, std430, buffer_reference_align = 2) buffer QuantBlock {
  uint16_t words[QUANT_BYTES / 2];
};
struct QuantBlockWords {
  uint16_t words[QUANT_BYTES / 2];
};
layout(buffer_reference, std430, buffer_reference_align = 16) buffer QuantBlocks {
  QuantBlockWords v[];
};

// Where this workgroup's B starts, in bytes, and how far past the 16-byte aligned base.
uint64_t b_start() { return pc.b + uint64_t(gl_WorkGroupID.z) * pc.stride_b; }
uint b_skew() { return (uint(pc.b) + gl_WorkGroupID.z * uint(pc.stride_b)) & 15u; }  // mod 2^32 is enough

ELEM decode_b(const in QuantBlock block, const in uint block_coord[2], const in uint in_block[2]) {
  return ELEM(quant_decode(uint64_t(block) + b_skew(), in_block[1]));
}

#define LOAD_B(mb, b, lb, k0)                                                                   \
  if (TRANS_B == 0)                                                                             \
    coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, k0, BK, n0, BN), decode_b);         \
  else                                                                                          \
    coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, n0, BN, k0, BK), transposed, decode_b);
#else
#define LOAD_B(mb, b, lb, k0)                                                                   \
  if (TRANS_B == 0)                                                                             \
    coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, k0, BK, n0, BN));                   \
  else                                                                                          \
    coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(lb, n0, BN, k0, BK), transposed);
#endif

// acc += the product over K in steps of BK, loading through layouts la, lb from buffers a, b.
#define ACCUMULATE(acc, a, b, la, lb, k_end)                                                 \
  for (uint k0 = 0; k0 < k_end; k0 += BK) {                                                  \
    MAT_A ma;                                                                                 \
    MAT_B mb;                                                                                 \
    if (TRANS_A == 0)                                                                         \
      coopMatLoadTensorNV(ma, a.v, 0, sliceTensorLayoutNV(la, m0, BM, k0, BK));               \
    else                                                                                      \
      coopMatLoadTensorNV(ma, a.v, 0, sliceTensorLayoutNV(la, k0, BK, m0, BM), transposed);   \
    LOAD_B(mb, b, lb, k0)                                                                     \
    acc = coopMatMulAdd(ma, mb, acc);                                                         \
  }

void main() {
  const uint batch = gl_WorkGroupID.z;
  const uint64_t a_at = pc.a + uint64_t(batch) * pc.stride_a * 2;
#ifndef BLOCK
  const uint64_t b_at = pc.b + uint64_t(batch) * pc.stride_b * 2;
#endif
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);

  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_a =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_b =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_c =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
#ifdef BLOCK
  layout_b = setTensorLayoutBlockSizeNV(layout_b, 1, QUANT_ELEMENTS);  // before the dimensions
  QuantBlocks b = QuantBlocks(b_start() - b_skew());
#endif
  SHAPE_LAYOUTS(layout_a, layout_b)
  layout_c = setTensorLayoutDimensionNV(layout_c, pc.M, pc.N);
  layout_a = setTensorLayoutStrideNV(layout_a, pc.lda, 1);
#ifdef BLOCK
  layout_b = setTensorLayoutStrideNV(layout_b, pc.ldb / QUANT_ELEMENTS, 1);  // in blocks
#else
  layout_b = setTensorLayoutStrideNV(layout_b, pc.ldb, 1);
#endif
  layout_c = setTensorLayoutStrideNV(layout_c, pc.ldc, 1);

  ACC acc = ACC(0.0);
#ifdef BLOCK
  const bool b_interior = b_skew() == 0;
#else
  const bool b_interior = true;
#endif
  const bool interior = pc.aligned != 0 && b_interior && m0 + BM <= pc.M && n0 + BN <= pc.N;
  if (interior) {
    // Masking the strides and K tells the compiler what pc.aligned promises.
    tensorLayoutNV<2> fast_a = createTensorLayoutNV(2);
    tensorLayoutNV<2> fast_b = createTensorLayoutNV(2);
#ifdef BLOCK
    fast_b = setTensorLayoutBlockSizeNV(fast_b, 1, QUANT_ELEMENTS);
#endif
    SHAPE_LAYOUTS(fast_a, fast_b)
    fast_a = setTensorLayoutStrideNV(fast_a, pc.lda & ~7u, 1);
    BufElemAligned a = BufElemAligned(a_at);
    const uint k_end = pc.K / BK * BK;
#ifdef BLOCK
    fast_b = setTensorLayoutStrideNV(fast_b, pc.ldb / QUANT_ELEMENTS, 1);
    ACCUMULATE(acc, a, b, fast_a, fast_b, k_end)
#else
    fast_b = setTensorLayoutStrideNV(fast_b, pc.ldb & ~7u, 1);
    BufElemAligned b = BufElemAligned(b_at);
    ACCUMULATE(acc, a, b, fast_a, fast_b, k_end)
#endif
  } else {
    BufElem a = BufElem(a_at);
#ifndef BLOCK
    BufElem b = BufElem(b_at);
#endif
    ACCUMULATE(acc, a, b, layout_a, layout_b, pc.K)
  }

  if (pc.K2 != 0) {
    // alpha A B + alpha2 A2 op(B2): rescale what is there so the multiply-adds can go on.
    acc = acc * (pc.alpha / pc.alpha2);
    BufElem a2 = BufElem(pc.a2);
    BufElem b2 = BufElem(pc.b2);
    tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_a2 =
        createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
    tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_b2 =
        createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
    layout_a2 = setTensorLayoutDimensionNV(layout_a2, pc.M, pc.K2);
    layout_b2 = TRANS_B2 == 0 ? setTensorLayoutDimensionNV(layout_b2, pc.K2, pc.N)
                              : setTensorLayoutDimensionNV(layout_b2, pc.N, pc.K2);
    layout_a2 = setTensorLayoutStrideNV(layout_a2, pc.lda2, 1);
    layout_b2 = setTensorLayoutStrideNV(layout_b2, pc.ldb2, 1);
    for (uint k0 = 0; k0 < pc.K2; k0 += 16) {
      coopmat<ELEM, gl_ScopeWorkgroup, BM, 16, gl_MatrixUseA> ma;
      coopmat<ELEM, gl_ScopeWorkgroup, 16, BN, gl_MatrixUseB> mb;
      coopMatLoadTensorNV(ma, a2.v, 0, sliceTensorLayoutNV(layout_a2, m0, BM, k0, 16));
      if (TRANS_B2 == 0)
        coopMatLoadTensorNV(mb, b2.v, 0, sliceTensorLayoutNV(layout_b2, k0, 16, n0, BN));
      else
        coopMatLoadTensorNV(mb, b2.v, 0, sliceTensorLayoutNV(layout_b2, n0, BN, k0, 16), transposed);
      acc = coopMatMulAdd(ma, mb, acc);
    }
    acc = acc * pc.alpha2;
  } else {
    acc = acc * pc.alpha;
  }
  const uint64_t c_at = pc.c + uint64_t(batch) * pc.stride_c * C_BYTES;
  if (interior) {
    tensorLayoutNV<2> fast_c = createTensorLayoutNV(2);
    fast_c = setTensorLayoutDimensionNV(fast_c, pc.M, pc.N);
    fast_c = setTensorLayoutStrideNV(fast_c, pc.ldc & C_MASK, 1);
    BufCAligned c = BufCAligned(c_at);
    WRITE_C(c, fast_c)
  } else {
    BufC c = BufC(c_at);
    WRITE_C(c, layout_c)
  }
}

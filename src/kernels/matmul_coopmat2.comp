#version 450
// matmul on GL_NV_cooperative_matrix2: the same contract as matmul.comp with f16 inputs and f32
// or f16 C. Workgroup-scope matrices (BM x BK, BK x BN, BM x BN) are loaded straight from memory
// through tensor layouts: the layout gives the matrix's true size, so loads past an edge return
// zero and stores past an edge are dropped (clamp mode "constant"), and a tensor view with a
// permuted dimension order reads a transposed operand. The compiler stages through shared memory.
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#include "common.glsl"

layout(constant_id = 0) const uint TRANS_A = 0;
layout(constant_id = 1) const uint TRANS_B = 0;
layout(constant_id = 2) const uint BM = 128;
layout(constant_id = 3) const uint BN = 128;
layout(constant_id = 4) const uint BK = 32;
layout(local_size_x_id = 5) in;

layout(push_constant) uniform Push { MATMUL_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 2) buffer BufF16 { float16_t v[]; };

void main() {
  const uint batch = gl_WorkGroupID.z;
  BufF16 a = BufF16(pc.a + uint64_t(batch) * pc.stride_a * 2);
  BufF16 b = BufF16(pc.b + uint64_t(batch) * pc.stride_b * 2);
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;

  // Stored shapes: A is M x K (K x M transposed), B is K x N (N x K transposed).
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_a =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_b =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> layout_c =
      createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
  layout_a = TRANS_A == 0 ? setTensorLayoutDimensionNV(layout_a, pc.M, pc.K)
                          : setTensorLayoutDimensionNV(layout_a, pc.K, pc.M);
  layout_b = TRANS_B == 0 ? setTensorLayoutDimensionNV(layout_b, pc.K, pc.N)
                          : setTensorLayoutDimensionNV(layout_b, pc.N, pc.K);
  layout_c = setTensorLayoutDimensionNV(layout_c, pc.M, pc.N);
  layout_a = setTensorLayoutStrideNV(layout_a, pc.lda, 1);
  layout_b = setTensorLayoutStrideNV(layout_b, pc.ldb, 1);
  layout_c = setTensorLayoutStrideNV(layout_c, pc.ldc, 1);
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);

  coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator> acc =
      coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>(0.0);
  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    coopmat<float16_t, gl_ScopeWorkgroup, BM, BK, gl_MatrixUseA> ma;
    coopmat<float16_t, gl_ScopeWorkgroup, BK, BN, gl_MatrixUseB> mb;
    if (TRANS_A == 0)
      coopMatLoadTensorNV(ma, a.v, 0, sliceTensorLayoutNV(layout_a, m0, BM, k0, BK));
    else
      coopMatLoadTensorNV(ma, a.v, 0, sliceTensorLayoutNV(layout_a, k0, BK, m0, BM), transposed);
    if (TRANS_B == 0)
      coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(layout_b, k0, BK, n0, BN));
    else
      coopMatLoadTensorNV(mb, b.v, 0, sliceTensorLayoutNV(layout_b, n0, BN, k0, BK), transposed);
    acc = coopMatMulAdd(ma, mb, acc);
  }

  acc = acc * pc.alpha;
#if defined(OUT_F32)
  BufF32 c = BufF32(pc.c + uint64_t(batch) * pc.stride_c * 4);
  if (pc.beta != 0.0) {
    coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator> old;
    coopMatLoadTensorNV(old, c.v, 0, sliceTensorLayoutNV(layout_c, m0, BM, n0, BN));
    acc = acc + old * pc.beta;
  }
  coopMatStoreTensorNV(acc, c.v, 0, sliceTensorLayoutNV(layout_c, m0, BM, n0, BN));
#else
  BufF16 c = BufF16(pc.c + uint64_t(batch) * pc.stride_c * 2);
  if (pc.beta != 0.0) {
    coopmat<float16_t, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator> old;
    coopMatLoadTensorNV(old, c.v, 0, sliceTensorLayoutNV(layout_c, m0, BM, n0, BN));
    acc = acc + coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>(old) * pc.beta;
  }
  coopmat<float16_t, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator> result =
      coopmat<float16_t, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>(acc);
  coopMatStoreTensorNV(result, c.v, 0, sliceTensorLayoutNV(layout_c, m0, BM, n0, BN));
#endif
}

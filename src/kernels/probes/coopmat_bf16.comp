#version 450
// Probe: does the local glslc know GL_EXT_bfloat16 cooperative matrices (SPV_KHR_bfloat16)?
// A 16 x 16 x 16 product of bfloat16_t matrices into f32 on one subgroup of
// GL_KHR_cooperative_matrix. CMake and scripts/setup compile it to prefer a shader toolchain that
// builds bf16 kernels; the bf16 matmul and attention variants (tests/ops) run such products.
#extension GL_EXT_bfloat16 : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x_id = 0) in;
layout(buffer_reference, std430) buffer Bf16Buf { bfloat16_t v[]; };
layout(buffer_reference, std430) buffer F32Buf { float v[]; };
layout(push_constant) uniform Push { uint64_t a; uint64_t b; uint64_t c; } pc;

void main() {
  coopmat<bfloat16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a;
  coopmat<bfloat16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB> b;
  coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> c =
      coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>(0.0);
  coopMatLoad(a, Bf16Buf(pc.a).v, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
  coopMatLoad(b, Bf16Buf(pc.b).v, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
  c = coopMatMulAdd(a, b, c);
  coopMatStore(c, F32Buf(pc.c).v, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
}

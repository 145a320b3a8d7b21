#version 450
// Probe: does the local glslc know GL_KHR_cooperative_matrix?
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x=32) in;
layout(binding=0) buffer B { float16_t d[]; };
void main(){ coopmat<float16_t, gl_ScopeSubgroup, 16,16, gl_MatrixUseA> a; coopMatLoad(a, d, 0, 16, gl_CooperativeMatrixLayoutRowMajor); coopMatStore(a, d, 0, 16, gl_CooperativeMatrixLayoutRowMajor);}

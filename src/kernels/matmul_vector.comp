#version 450
// matmul (vector): C = alpha * A W^T + beta * C for a few rows of A (M <= MAX_M: the tokens of a
// generation step) and W a frozen weight in a ggml block format (BLOCK_<type>, quant.glsl) of
// N rows of pc.ldb values: the product of the decode step, which is bound by reading W. Each
// workgroup owns rows n of W (columns of C) in turn, one at a time (a device may launch as few as
// 65535 workgroups, a vocabulary has more rows), each as matmul_vector.glsl's vector_column
// reads and sums it. A is IN_* [M, K] (lda), C is OUT_* [M, N] (ldc); batches (split-K parts) by gl_WorkGroupID.z with pc.stride_b in bytes.
// The op takes this kernel only where the device has subgroup arithmetic.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "quant.glsl"

layout(constant_id = 0) const uint TRANS_A = 0;  // 0 only (the op checks)
layout(constant_id = 1) const uint TRANS_B = 1;  // 1 only (the op checks)
layout(constant_id = 2) const uint MAX_M = 8;
const uint THREADS = 64;
layout(local_size_x = THREADS) in;

layout(push_constant) uniform Push { MATMUL_PUSH } pc;

#include "matmul_vector.glsl"

void main() {
  const uint batch = gl_WorkGroupID.z;
  IN_BUF a = IN_BUF(pc.a + uint64_t(batch) * pc.stride_a * IN_BYTES);
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(batch) * pc.stride_c * OUT_BYTES);
  const uint64_t w = pc.b + uint64_t(batch) * pc.stride_b;
  for (uint n = gl_WorkGroupID.x; n < pc.N; n += gl_NumWorkGroups.x)
    vector_column(a, pc.lda, w + uint64_t(n) * quant_row_bytes(pc.ldb), pc.K, min(pc.M, MAX_M), c,
                  pc.ldc, n, pc.alpha, pc.beta);
}

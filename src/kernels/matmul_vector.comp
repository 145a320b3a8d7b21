#version 450
// matmul (vector): C = alpha * A W^T + beta * C for a few rows of A (M <= MAX_M: the tokens of a
// generation step) and W a frozen weight in a ggml block format (BLOCK_<type>, quant.glsl) of
// N rows of pc.ldb values: the product of the decode step, which is bound by reading W. Each
// workgroup owns rows n of W (columns of C) in turn, one at a time (a device may launch as few as
// 65535 workgroups, a vocabulary has more rows): its threads walk the row's runs of 8 values in
// turn (quant.glsl), so together they read each block once and decode each value once, and each thread keeps M
// partial sums; subgroupAdd reduces them within each subgroup and the workgroup adds the
// subgroups' sums in shared memory, in order, at any subgroup size. A is IN_* [M, K] (lda), C is
// OUT_* [M, N] (ldc); batches (split-K parts) by gl_WorkGroupID.z with pc.stride_b in bytes.
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

// One sum per row of A and subgroup (up to THREADS subgroups, of one invocation each).
shared float sums[MAX_M * THREADS];

// C's column n: every row of A times row n of W.
void column(IN_BUF a, OUT_BUF c, uint64_t w, uint n, uint rows) {
  const uint64_t row = w + uint64_t(n) * quant_row_bytes(pc.ldb);
  float acc[MAX_M];
  [[unroll]] for (uint m = 0; m < MAX_M; ++m) acc[m] = 0.0;
  // Runs of 8 values (K is whole blocks): one header read and a few word loads per run.
  for (uint k = gl_LocalInvocationID.x * QUANT_RUN; k < pc.K; k += THREADS * QUANT_RUN) {
    float v[QUANT_RUN];
    quant_unpack(quant_fetch(quant_block(row, k), k % QUANT_ELEMENTS), k % QUANT_ELEMENTS, v);
    [[unroll]] for (uint m = 0; m < MAX_M; ++m)
      if (m < rows)
        [[unroll]] for (uint j = 0; j < QUANT_RUN; ++j)
          acc[m] = fma(in_load(a, m * pc.lda + k + j), v[j], acc[m]);
  }

  [[unroll]] for (uint m = 0; m < MAX_M; ++m) {
    float sum = subgroupAdd(acc[m]);
    if (subgroupElect()) sums[m * THREADS + gl_SubgroupID] = sum;
  }
  barrier();
  const uint m = gl_LocalInvocationID.x;
  if (m < rows) {
    float total = 0.0;
    for (uint s = 0; s < gl_NumSubgroups; ++s) total += sums[m * THREADS + s];
    uint at = m * pc.ldc + n;
    float y = pc.alpha * total;
    if (pc.beta != 0.0) y += pc.beta * out_load(c, at);
    out_store(c, at, y);
  }
  barrier();  // before the next column writes sums again
}

void main() {
  const uint batch = gl_WorkGroupID.z;
  IN_BUF a = IN_BUF(pc.a + uint64_t(batch) * pc.stride_a * IN_BYTES);
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(batch) * pc.stride_c * OUT_BYTES);
  const uint64_t w = pc.b + uint64_t(batch) * pc.stride_b;
  for (uint n = gl_WorkGroupID.x; n < pc.N; n += gl_NumWorkGroups.x)
    column(a, c, w, n, min(pc.M, MAX_M));
}

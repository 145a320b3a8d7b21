#version 450
// matmul (portable): C = alpha * op(A) * op(B) + beta * C for row-major matrices, batched over
// gl_WorkGroupID.z with element strides. op() is a transpose chosen by TRANS_A / TRANS_B:
// A is M x K (K x M when transposed), B is K x N (N x K when transposed). Inputs are IN_* (f32,
// f16 or bf16), C is OUT_*; products and sums are f32.
// Tiling: a workgroup computes a BM x BN tile of C, stepping K by BK through two shared-memory
// tiles; each of its (BM/TM)*(BN/TN) threads owns a TM x TN block of accumulators. Edge tiles
// are zero-padded on load and masked on store, so any M, N, K work. beta == 0 never reads C.
// Runs on every Vulkan device; cooperative-matrix variants are faster where they exist.
// With BLOCK (and BLOCK_<type>) B is a frozen weight in a ggml block format (quant.glsl): its
// rows are whole blocks (along K with TRANS_B, along N without), pc.ldb its row length in
// values and pc.stride_b in bytes; each tile of B is decoded into shared memory as it is loaded,
// so no dequantized copy of the weight exists, and the floats are exactly io::dequantize's.
#include "common.glsl"
#ifdef BLOCK
#include "quant.glsl"
#define B_AT(row, col) quant_load(b + uint64_t(row) * b_row_bytes, col)
#else
#define B_AT(row, col) in_load(b, (row) * pc.ldb + (col))
#endif

layout(constant_id = 0) const uint TRANS_A = 0;
layout(constant_id = 1) const uint TRANS_B = 0;
layout(constant_id = 2) const uint BM = 64;
layout(constant_id = 3) const uint BN = 64;
layout(constant_id = 4) const uint BK = 16;
layout(constant_id = 5) const uint TM = 4;
layout(constant_id = 6) const uint TN = 4;
layout(local_size_x_id = 7) in;  // must equal (BM / TM) * (BN / TN)

layout(push_constant) uniform Push { MATMUL_PUSH } pc;

shared float tile_a[BK * BM];  // [k][m]
shared float tile_b[BK * BN];  // [k][n]

void main() {
  const uint threads = (BM / TM) * (BN / TN);
  const uint batch = gl_WorkGroupID.z;
  IN_BUF a = IN_BUF(pc.a + uint64_t(batch) * pc.stride_a * IN_BYTES);
#ifdef BLOCK
  const uint64_t b = pc.b + uint64_t(batch) * pc.stride_b;
  const uint64_t b_row_bytes = quant_row_bytes(pc.ldb);
#else
  IN_BUF b = IN_BUF(pc.b + uint64_t(batch) * pc.stride_b * IN_BYTES);
#endif
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(batch) * pc.stride_c * OUT_BYTES);
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;
  const uint tid = gl_LocalInvocationID.x;
  const uint tn = tid % (BN / TN);
  const uint tm = tid / (BN / TN);

  float acc[TM * TN];
  for (uint i = 0; i < TM * TN; ++i) acc[i] = 0.0;

  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    // Consecutive threads read consecutive addresses of whichever layout A and B have.
    for (uint i = tid; i < BM * BK; i += threads) {
      uint r = TRANS_A == 0 ? i / BK : i % BM;
      uint kk = TRANS_A == 0 ? i % BK : i / BM;
      uint m = m0 + r, k = k0 + kk;
      float x = 0.0;
      if (m < pc.M && k < pc.K) x = in_load(a, TRANS_A == 0 ? m * pc.lda + k : k * pc.lda + m);
      tile_a[kk * BM + r] = x;
    }
    for (uint i = tid; i < BN * BK; i += threads) {
      uint col = TRANS_B == 0 ? i % BN : i / BK;
      uint kk = TRANS_B == 0 ? i / BN : i % BK;
      uint n = n0 + col, k = k0 + kk;
      float x = 0.0;
      if (n < pc.N && k < pc.K) x = TRANS_B == 0 ? B_AT(k, n) : B_AT(n, k);
      tile_b[kk * BN + col] = x;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float av[TM], bv[TN];
      for (uint i = 0; i < TM; ++i) av[i] = tile_a[kk * BM + tm + i * (BM / TM)];
      for (uint j = 0; j < TN; ++j) bv[j] = tile_b[kk * BN + tn + j * (BN / TN)];
      for (uint i = 0; i < TM; ++i)
        for (uint j = 0; j < TN; ++j) acc[i * TN + j] = fma(av[i], bv[j], acc[i * TN + j]);
    }
    barrier();
  }

  for (uint i = 0; i < TM; ++i) {
    uint m = m0 + tm + i * (BM / TM);
    if (m >= pc.M) continue;
    for (uint j = 0; j < TN; ++j) {
      uint n = n0 + tn + j * (BN / TN);
      if (n >= pc.N) continue;
      uint at = m * pc.ldc + n;
      float y = pc.alpha * acc[i * TN + j];
      if (pc.beta != 0.0) y += pc.beta * out_load(c, at);
      out_store(c, at, y);
    }
  }
}

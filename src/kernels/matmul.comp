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
// Each thread decodes runs of 8 values of one block (quant.glsl: one header read, word loads),
// and fetches the next K step's runs into registers before the current step's math, so their
// loads are in flight while it runs.
#include "common.glsl"
#ifdef BLOCK
#include "quant.glsl"
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

#ifdef BLOCK
// Runs of B's tile: along K (BK / QUANT_RUN per row of W) with TRANS_B, else along N.
const uint RUNS_PER_ROW = (TRANS_B != 0 ? BK : BN) / QUANT_RUN;
const uint B_RUNS = BK * BN / QUANT_RUN;
const uint RUNS_PER_THREAD = (B_RUNS + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN));

// Where run `run` of the K step at k0 lies in B ([K, N], or [N, K] with TRANS_B): its row and
// first column.
uvec2 run_place(uint run, uint k0, uint n0) {
  uint r = run / RUNS_PER_ROW, c = (run % RUNS_PER_ROW) * QUANT_RUN;
  return TRANS_B != 0 ? uvec2(n0 + r, k0 + c) : uvec2(k0 + r, n0 + c);
}

// Fetches this thread's runs of the K step at k0 (rows past B's extent are not read).
void fetch_runs(uint64_t b, uint64_t row_bytes, uint k0, uint n0, uint rows,
                out QuantRun runs[RUNS_PER_THREAD]) {
  const uint threads = (BM / TM) * (BN / TN);
  [[unroll]] for (uint l = 0; l < RUNS_PER_THREAD; ++l) {
    uint run = gl_LocalInvocationID.x + l * threads;
    uvec2 at = run_place(run, k0, n0);
    // A run is whole: rows are whole blocks and runs start at multiples of 8 of a K or N
    // that is a multiple of the block (the op checks both).
    if (run < B_RUNS && at.x < rows && at.y < (TRANS_B != 0 ? pc.K : pc.N))
      runs[l] = quant_fetch(quant_block(b + uint64_t(at.x) * row_bytes, at.y), at.y % QUANT_ELEMENTS);
  }
}

// Decodes the fetched runs into tile_b (zeros for runs past B's extent).
void store_runs(QuantRun runs[RUNS_PER_THREAD], uint k0, uint n0, uint rows) {
  const uint threads = (BM / TM) * (BN / TN);
  [[unroll]] for (uint l = 0; l < RUNS_PER_THREAD; ++l) {
    uint run = gl_LocalInvocationID.x + l * threads;
    if (run >= B_RUNS) continue;
    uvec2 at = run_place(run, k0, n0);
    float v[QUANT_RUN];
    if (at.x < rows && at.y < (TRANS_B != 0 ? pc.K : pc.N))
      quant_unpack(runs[l], at.y % QUANT_ELEMENTS, v);
    else
      for (uint j = 0; j < QUANT_RUN; ++j) v[j] = 0.0;
    uint r = run / RUNS_PER_ROW, c = (run % RUNS_PER_ROW) * QUANT_RUN;
    [[unroll]] for (uint j = 0; j < QUANT_RUN; ++j) {
      if (TRANS_B != 0)
        tile_b[(c + j) * BN + r] = v[j];
      else
        tile_b[r * BN + c + j] = v[j];
    }
  }
}
#endif

void main() {
  const uint threads = (BM / TM) * (BN / TN);
  const uint batch = gl_WorkGroupID.z;
  IN_BUF a = IN_BUF(pc.a + uint64_t(batch) * pc.stride_a * IN_BYTES);
#ifdef BLOCK
  const uint64_t b = pc.b + uint64_t(batch) * pc.stride_b;
  const uint64_t b_row_bytes = quant_row_bytes(pc.ldb);
  const uint b_rows = TRANS_B != 0 ? pc.N : pc.K;
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

#ifdef BLOCK
  QuantRun runs[RUNS_PER_THREAD];
  fetch_runs(b, b_row_bytes, 0, n0, b_rows, runs);
#endif
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
#ifdef BLOCK
    store_runs(runs, k0, n0, b_rows);
    barrier();
    if (k0 + BK < pc.K) fetch_runs(b, b_row_bytes, k0 + BK, n0, b_rows, runs);
#else
    for (uint i = tid; i < BN * BK; i += threads) {
      uint col = TRANS_B == 0 ? i % BN : i / BK;
      uint kk = TRANS_B == 0 ? i / BN : i % BK;
      uint n = n0 + col, k = k0 + kk;
      float x = 0.0;
      if (n < pc.N && k < pc.K) x = in_load(b, TRANS_B == 0 ? k * pc.ldb + n : n * pc.ldb + k);
      tile_b[kk * BN + col] = x;
    }
    barrier();
#endif
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

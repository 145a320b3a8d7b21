#version 450
// matmul on GL_KHR_cooperative_matrix (subgroup scope): the same contract as matmul.comp with
// f16 (IN_F16) or bf16 (IN_BF16, GL_EXT_bfloat16) inputs and f32 or input-typed C. Each
// workgroup computes a BM x BN tile of C; its (BM/WM)*(BN/WN) subgroups each own a WM x WN block
// made of CM x CN accumulators. The A and B tiles (BM x BK, BK x BN) are staged in shared memory
// in their stored orientation, so global rows copy straight in as raw 16-bit words, 16 bytes per
// load (one load per 8 elements where the product is aligned and the tile interior; element by
// element, zero-padded, at edges); a transposed operand is then read as column-major fragments.
// Rows are padded by 8 elements against bank conflicts. Interior tiles prefetch the next K step's
// words into registers while the current step multiplies, so global latency hides behind the
// matrix units with one workgroup per SM as well. Every loop over fragments and loads is
// unrolled: without [[unroll]] the same kernel ran at 31 instead of 180 TFLOP/s on the H100 at
// 4096^3 (its fragment arrays indexed at run time). Accumulators leave through a
// per-subgroup shared-memory patch so alpha, beta and the M/N bounds apply per element. The
// matrix shape (CM, CN, CK) must be one the device lists.
// With BLOCK (and BLOCK_<type>) B is a frozen weight in a ggml block format, as in matmul.comp
// (pc.ldb its row length in values, pc.stride_b in bytes): each staged word of B is 8
// consecutive values of one of its rows, decoded by quant.glsl (the blocks' 32 or 256 values are
// whole words, and the tile's columns start at multiples of 8) and rounded once to A's type, so
// the product is the dequantized weight's, rounded to f16 or bf16. A weight value past f16's
// range (65504) cannot be staged as f16: such weights need bf16 activations. Each thread fetches
// its runs of B's next K step (and A's words, on interior tiles) into registers before the
// current step's math and decodes them into shared memory after it, so the loads are in flight
// while the matrix units run; one loop holds the one copy of the fragment products (lavapipe's
// compiler spends seconds on each inlined copy). No dequantized copy of the weight exists.
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
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
layout(constant_id = 5) const uint WM = 64;
layout(constant_id = 6) const uint WN = 32;
layout(local_size_x_id = 7) in;  // (BM / WM) * (BN / WN) * SUBGROUP
layout(constant_id = 8) const uint SUBGROUP = 32;
layout(constant_id = 9) const uint CM = 16;
layout(constant_id = 10) const uint CN = 16;
layout(constant_id = 11) const uint CK = 16;

layout(push_constant) uniform Push { MATMUL_PUSH } pc;

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufU16x8 { uvec4 v[]; };

// Stored orientation: A is [BM][BK] ([BK][BM] transposed), B is [BK][BN] ([BN][BK] transposed).
const uint PAD = 8;
const uint A_ROWS = TRANS_A == 0 ? BM : BK;
const uint A_LD = (TRANS_A == 0 ? BK : BM) + PAD;
const uint B_ROWS = TRANS_B == 0 ? BK : BN;
const uint B_LD = (TRANS_B == 0 ? BN : BK) + PAD;
shared uvec4 tile_a[A_ROWS * A_LD / 8];  // 8 elements per uvec4
shared uvec4 tile_b[B_ROWS * B_LD / 8];
shared float staging[(BM / WM) * (BN / WN) * CM * CN];

const uint THREADS = (BM / WM) * (BN / WN) * SUBGROUP;

// Copies a rows x (ld - PAD) block of a row-major matrix (row r at src + r * stride elements;
// rows past row_end or columns past col_end read as zero) from (row0, col0) into tile, element by
// element: the edge tiles' path.
#define STAGE(tile, src, stride, rows, ld, row0, col0, row_end, col_end)                     \
  for (uint i = gl_LocalInvocationID.x; i < rows * ((ld - PAD) / 8); i += THREADS) {          \
    uint r = i / ((ld - PAD) / 8), c = (i % ((ld - PAD) / 8)) * 8;                            \
    uint row = row0 + r, col = col0 + c;                                                      \
    uint w[8];                                                                                \
    for (uint j = 0; j < 8; ++j)                                                              \
      w[j] = row < row_end && col + j < col_end ? uint(BufU16(src).v[row * stride + col + j]) \
                                                : 0u;                                         \
    tile[(r * ld + c) / 8] = uvec4(w[0] | (w[1] << 16), w[2] | (w[3] << 16),                  \
                                   w[4] | (w[5] << 16), w[6] | (w[7] << 16));                 \
  }

const uint A_WORDS = A_ROWS * ((A_LD - PAD) / 8);  // 16-byte words per staged tile
const uint B_WORDS = B_ROWS * ((B_LD - PAD) / 8);
const uint A_LOADS = (A_WORDS + THREADS - 1) / THREADS;  // per invocation
const uint B_LOADS = (B_WORDS + THREADS - 1) / THREADS;

coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator> acc[WM / CM][WN / CN];

// acc += this subgroup's share of the staged A tile times the staged B tile.
void multiply_staged(uint wm0, uint wn0) {
  [[unroll]] for (uint kk = 0; kk < BK; kk += CK) {
    coopmat<ELEM, gl_ScopeSubgroup, CM, CK, gl_MatrixUseA> fa[WM / CM];
    coopmat<ELEM, gl_ScopeSubgroup, CK, CN, gl_MatrixUseB> fb[WN / CN];
    [[unroll]] for (uint i = 0; i < WM / CM; ++i) {
      uint m = wm0 + i * CM;
      if (TRANS_A == 0)
        coopMatLoad(fa[i], tile_a, (m * A_LD + kk) / 8, A_LD / 8,
                    gl_CooperativeMatrixLayoutRowMajor);
      else
        coopMatLoad(fa[i], tile_a, (kk * A_LD + m) / 8, A_LD / 8,
                    gl_CooperativeMatrixLayoutColumnMajor);
    }
    [[unroll]] for (uint j = 0; j < WN / CN; ++j) {
      uint n = wn0 + j * CN;
      if (TRANS_B == 0)
        coopMatLoad(fb[j], tile_b, (kk * B_LD + n) / 8, B_LD / 8,
                    gl_CooperativeMatrixLayoutRowMajor);
      else
        coopMatLoad(fb[j], tile_b, (n * B_LD + kk) / 8, B_LD / 8,
                    gl_CooperativeMatrixLayoutColumnMajor);
    }
    [[unroll]] for (uint i = 0; i < WM / CM; ++i)
      [[unroll]] for (uint j = 0; j < WN / CN; ++j)
        acc[i][j] = coopMatMulAdd(fa[i], fb[j], acc[i][j]);
  }
}

// Word w of a staged tile (rows x ld) of a row-major matrix at (row0, col0), read unclamped.
uvec4 tile_word(uint64_t src, uint stride, uint ld, uint row0, uint col0, uint w) {
  uint r = w / ((ld - PAD) / 8), c = (w % ((ld - PAD) / 8)) * 8;
  return BufU16x8(src + (uint64_t(row0 + r) * stride + col0 + c) * 2).v[0];
}
void store_word(bool to_a, uint ld, uint w, uvec4 words) {
  uint r = w / ((ld - PAD) / 8), c = (w % ((ld - PAD) / 8)) * 8;
  if (to_a)
    tile_a[(r * ld + c) / 8] = words;
  else
    tile_b[(r * ld + c) / 8] = words;
}

#ifdef BLOCK
#if defined(IN_BF16)
#define PACK2(x, y) (float_to_bf16_bits(x) | (float_to_bf16_bits(y) << 16))
#else
#define PACK2(x, y) packHalf2x16(vec2(x, y))
#endif
// Staged word w of B's tile for the K step at k0 is one run of 8 values of a row of the block
// weight at `src`: its row and first column (B's stored orientation, as STAGE copies a float B).
uvec2 run_place(uint w, uint k0, uint n0) {
  uint r = w / ((B_LD - PAD) / 8), c = (w % ((B_LD - PAD) / 8)) * 8;
  return TRANS_B == 0 ? uvec2(k0 + r, n0 + c) : uvec2(n0 + r, k0 + c);
}

// Fetches this invocation's runs of the K step at k0 into registers; runs past B's extent
// (rows x cols) are not read.
void fetch_b(uint64_t src, uint k0, uint n0, uint rows, uint cols, out QuantRun runs[B_LOADS]) {
  const uint64_t row_bytes = quant_row_bytes(pc.ldb);
  [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
    uint w = gl_LocalInvocationID.x + l * THREADS;
    uvec2 at = run_place(w, k0, n0);
    if (w < B_WORDS && at.x < rows && at.y < cols)
      runs[l] = quant_fetch(quant_block(src + uint64_t(at.x) * row_bytes, at.y),
                            at.y % QUANT_ELEMENTS);
  }
}

// Decodes the fetched runs into tile_b, rounded once to A's type; zeros past B's extent.
void store_b(QuantRun runs[B_LOADS], uint k0, uint n0, uint rows, uint cols) {
  [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
    uint w = gl_LocalInvocationID.x + l * THREADS;
    if (w >= B_WORDS) continue;
    uvec2 at = run_place(w, k0, n0);
    uvec4 words = uvec4(0u);
    if (at.x < rows && at.y < cols) {
      float v[QUANT_RUN];
      quant_unpack(runs[l], at.y % QUANT_ELEMENTS, v);
      words = uvec4(PACK2(v[0], v[1]), PACK2(v[2], v[3]), PACK2(v[4], v[5]), PACK2(v[6], v[7]));
    }
    store_word(false, B_LD, w, words);
  }
}
#endif

void main() {
  const uint batch = gl_WorkGroupID.z;
  const uint64_t a_at = pc.a + uint64_t(batch) * pc.stride_a * 2;
#ifdef BLOCK
  const uint64_t b_at = pc.b + uint64_t(batch) * pc.stride_b;  // bytes
  // B's stored extent: K x N, or N x K transposed.
  const uint b_rows = TRANS_B == 0 ? pc.K : pc.N, b_cols = TRANS_B == 0 ? pc.N : pc.K;
#else
  const uint64_t b_at = pc.b + uint64_t(batch) * pc.stride_b * 2;
#endif
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(batch) * pc.stride_c * OUT_BYTES);
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;
  const uint sg = gl_LocalInvocationID.x / SUBGROUP;
  const uint lane = gl_LocalInvocationID.x % SUBGROUP;
  const uint wm0 = (sg / (BN / WN)) * WM;
  const uint wn0 = (sg % (BN / WN)) * WN;
  const bool interior = pc.aligned != 0 && m0 + BM <= pc.M && n0 + BN <= pc.N;

  [[unroll]] for (uint i = 0; i < WM / CM; ++i)
    [[unroll]] for (uint j = 0; j < WN / CN; ++j)
      acc[i][j] = coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator>(0.0);

#ifdef BLOCK
  // One loop, one copy of the fragment products. Interior tiles keep A's next words in
  // registers as B's runs; edge tiles copy A element by element.
  const uint ar0 = TRANS_A == 0 ? m0 : 0, ac0 = TRANS_A == 0 ? 0 : m0;
  uvec4 next_a[A_LOADS];
  QuantRun runs[B_LOADS];
  if (interior) {
    [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
      uint w = gl_LocalInvocationID.x + l * THREADS;
      if (w < A_WORDS) next_a[l] = tile_word(a_at, pc.lda, A_LD, ar0, ac0, w);
    }
  }
  fetch_b(b_at, 0, n0, b_rows, b_cols, runs);
  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    if (interior) {
      [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
        uint w = gl_LocalInvocationID.x + l * THREADS;
        if (w < A_WORDS) store_word(true, A_LD, w, next_a[l]);
      }
    } else if (TRANS_A == 0) {
      STAGE(tile_a, a_at, pc.lda, A_ROWS, A_LD, m0, k0, pc.M, pc.K)
    } else {
      STAGE(tile_a, a_at, pc.lda, A_ROWS, A_LD, k0, m0, pc.K, pc.M)
    }
    store_b(runs, k0, n0, b_rows, b_cols);
    barrier();
    const uint k1 = k0 + BK;
    if (k1 < pc.K) {
      if (interior) {
        [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
          uint w = gl_LocalInvocationID.x + l * THREADS;
          if (w < A_WORDS)
            next_a[l] = tile_word(a_at, pc.lda, A_LD, ar0 + (TRANS_A == 0 ? 0 : k1),
                                  ac0 + (TRANS_A == 0 ? k1 : 0), w);
        }
      }
      fetch_b(b_at, k1, n0, b_rows, b_cols, runs);
    }
    multiply_staged(wm0, wn0);
    barrier();
  }
#else
  if (interior) {
    // Aligned interior tile: every K step is whole (K is a multiple of BK). Step k0's words are
    // in registers when the loop body starts; the next step's are fetched before multiplying.
    const uint ar0 = TRANS_A == 0 ? m0 : 0, ac0 = TRANS_A == 0 ? 0 : m0;
    const uint br0 = TRANS_B == 0 ? 0 : n0, bc0 = TRANS_B == 0 ? n0 : 0;
    uvec4 next_a[A_LOADS], next_b[B_LOADS];
    [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
      uint w = gl_LocalInvocationID.x + l * THREADS;
      if (w < A_WORDS) next_a[l] = tile_word(a_at, pc.lda, A_LD, ar0, ac0, w);
    }
    [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
      uint w = gl_LocalInvocationID.x + l * THREADS;
      if (w < B_WORDS) next_b[l] = tile_word(b_at, pc.ldb, B_LD, br0, bc0, w);
    }
    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
      [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
        uint w = gl_LocalInvocationID.x + l * THREADS;
        if (w < A_WORDS) store_word(true, A_LD, w, next_a[l]);
      }
      [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
        uint w = gl_LocalInvocationID.x + l * THREADS;
        if (w < B_WORDS) store_word(false, B_LD, w, next_b[l]);
      }
      barrier();
      const uint k1 = k0 + BK;
      if (k1 < pc.K) {
        [[unroll]] for (uint l = 0; l < A_LOADS; ++l) {
          uint w = gl_LocalInvocationID.x + l * THREADS;
          if (w < A_WORDS)
            next_a[l] = tile_word(a_at, pc.lda, A_LD, ar0 + (TRANS_A == 0 ? 0 : k1),
                                  ac0 + (TRANS_A == 0 ? k1 : 0), w);
        }
        [[unroll]] for (uint l = 0; l < B_LOADS; ++l) {
          uint w = gl_LocalInvocationID.x + l * THREADS;
          if (w < B_WORDS)
            next_b[l] = tile_word(b_at, pc.ldb, B_LD, br0 + (TRANS_B == 0 ? k1 : 0),
                                  bc0 + (TRANS_B == 0 ? 0 : k1), w);
        }
      }
      multiply_staged(wm0, wn0);
      barrier();
    }
  } else {
    for (uint k0 = 0; k0 < pc.K; k0 += BK) {
      if (TRANS_A == 0)
        STAGE(tile_a, a_at, pc.lda, A_ROWS, A_LD, m0, k0, pc.M, pc.K)
      else
        STAGE(tile_a, a_at, pc.lda, A_ROWS, A_LD, k0, m0, pc.K, pc.M)
      if (TRANS_B == 0)
        STAGE(tile_b, b_at, pc.ldb, B_ROWS, B_LD, k0, n0, pc.K, pc.N)
      else
        STAGE(tile_b, b_at, pc.ldb, B_ROWS, B_LD, n0, k0, pc.N, pc.K)
      barrier();
      multiply_staged(wm0, wn0);
      barrier();
    }
  }
#endif

  const uint staging0 = sg * CM * CN;
  [[unroll]] for (uint i = 0; i < WM / CM; ++i) {
    [[unroll]] for (uint j = 0; j < WN / CN; ++j) {
      coopMatStore(acc[i][j], staging, staging0, CN, gl_CooperativeMatrixLayoutRowMajor);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint e = lane; e < CM * CN; e += SUBGROUP) {
        uint m = m0 + wm0 + i * CM + e / CN;
        uint n = n0 + wn0 + j * CN + e % CN;
        if (m >= pc.M || n >= pc.N) continue;
        uint at = m * pc.ldc + n;
        float y = pc.alpha * staging[staging0 + e];
        if (pc.beta != 0.0) y += pc.beta * out_load(c, at);
        out_store(c, at, y);
      }
      subgroupBarrier();
    }
  }
}

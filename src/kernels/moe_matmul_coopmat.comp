#version 450
// moe_matmul on GL_KHR_cooperative_matrix (subgroup scope): the same contract and the same two
// modes as moe_matmul.comp (read its header: rows of each expert, one dispatch over an upper
// bound of (expert, tile) workgroups that find their expert from the offsets; WEIGHT_GRADIENT:
// dY^T X per expert over its rows), for f16 (IN_F16) or bf16 (IN_BF16) inputs with f32 sums.
// Each workgroup computes a BM x BN tile; its (BM/WM)*(BN/WN) subgroups each own a WM x WN block
// of CM x CN accumulators. The operands' tiles are staged in shared memory in their stored
// orientation as raw 16-bit words, two to a uint, eight at a time (16-byte loads where aligned),
// with zero padding past the expert's rows, N and the reduction;
// A is [BM][BK] ([BK][BM] for the weight gradient's dY), B [BK][BN] or [BN][BK] (TRANS_B). Rows
// are padded by 8 elements against bank conflicts. Accumulators leave through a per-subgroup
// shared patch so alpha, beta and the bounds apply per element. The fragment shape (CM, CN, CK)
// must be one the device lists and divide WM, WN and BK.
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
#include "moe_push.h"
#include "moe_matmul.glsl"

layout(constant_id = 0) const uint TRANS_B = 1;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 32;
layout(constant_id = 4) const uint WM = 32;
layout(constant_id = 5) const uint WN = 32;
layout(local_size_x_id = 6) in;  // (BM / WM) * (BN / WN) * SUBGROUP
layout(constant_id = 7) const uint SUBGROUP = 32;
layout(constant_id = 8) const uint CM = 16;
layout(constant_id = 9) const uint CN = 16;
layout(constant_id = 10) const uint CK = 16;

layout(push_constant) uniform Push { MOE_MATMUL_PUSH } pc;

#ifdef WEIGHT_GRADIENT
const bool A_TRANSPOSED = true;  // dY rows are the reduction: staged [BK][BM]
const bool B_TRANSPOSED = false;
#else
const bool A_TRANSPOSED = false;
const bool B_TRANSPOSED = TRANS_B != 0;
#endif
const uint PAD = 8;
const uint A_ROWS = A_TRANSPOSED ? BK : BM, A_COLS = A_TRANSPOSED ? BM : BK;
const uint B_ROWS = B_TRANSPOSED ? BN : BK, B_COLS = B_TRANSPOSED ? BK : BN;
const uint A_LD = A_COLS + PAD, B_LD = B_COLS + PAD;  // elements
shared uint tile_a[A_ROWS * A_LD / 2];  // two 16-bit elements per uint
shared uint tile_b[B_ROWS * B_LD / 2];
shared float staging[(BM / WM) * (BN / WN) * CM * CN];

const uint THREADS = (BM / WM) * (BN / WN) * SUBGROUP;

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufU16x8 { uvec4 v[]; };

// Stages rows x cols elements of a row-major matrix (element (r, c) at src + (r * stride + c) * 2
// bytes) from (row0, col0) into tile a or b, zero past row_end or col_end, eight elements at a
// time: one 16-byte load where they lie inside and 16-byte aligned (every group of a product
// whose row lengths are multiples of 8, at any expert offset), else element by element.
void stage(bool to_a, uint64_t src, uint stride, uint row0, uint col0, uint row_end,
           uint col_end) {
  const uint rows = to_a ? A_ROWS : B_ROWS, groups = (to_a ? A_COLS : B_COLS) / 8;
  const uint ld = to_a ? A_LD : B_LD;
  BufU16 s = BufU16(src);
  for (uint i = gl_LocalInvocationID.x; i < rows * groups; i += THREADS) {
    uint r = i / groups, c = (i % groups) * 8;
    uint row = row0 + r, col = col0 + c;
    uint64_t address = src + (uint64_t(row) * stride + col) * 2;
    uvec4 words = uvec4(0);
    if (row < row_end && col + 8 <= col_end && (address & 15) == 0) {
      words = BufU16x8(address).v[0];
    } else if (row < row_end) {
      uint w[8];
      for (uint j = 0; j < 8; ++j) w[j] = col + j < col_end ? uint(s.v[row * stride + col + j]) : 0u;
      words = uvec4(w[0] | (w[1] << 16), w[2] | (w[3] << 16), w[4] | (w[5] << 16),
                    w[6] | (w[7] << 16));
    }
    uint at = (r * ld + c) / 2;
    for (uint q = 0; q < 4; ++q) {
      if (to_a)
        tile_a[at + q] = words[q];
      else
        tile_b[at + q] = words[q];
    }
  }
}

coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator> acc[WM / CM][WN / CN];

void multiply_tiles(uint wm0, uint wn0) {
  [[unroll]] for (uint kk = 0; kk < BK; kk += CK) {
    coopmat<ELEM, gl_ScopeSubgroup, CM, CK, gl_MatrixUseA> fa[WM / CM];
    coopmat<ELEM, gl_ScopeSubgroup, CK, CN, gl_MatrixUseB> fb[WN / CN];
    [[unroll]] for (uint i = 0; i < WM / CM; ++i) {
      uint m = wm0 + i * CM;
      uint at = A_TRANSPOSED ? kk * A_LD + m : m * A_LD + kk;
      coopMatLoad(fa[i], tile_a, at / 2, A_LD / 2,
                  A_TRANSPOSED ? gl_CooperativeMatrixLayoutColumnMajor
                               : gl_CooperativeMatrixLayoutRowMajor);
    }
    [[unroll]] for (uint j = 0; j < WN / CN; ++j) {
      uint n = wn0 + j * CN;
      uint at = B_TRANSPOSED ? n * B_LD + kk : kk * B_LD + n;
      coopMatLoad(fb[j], tile_b, at / 2, B_LD / 2,
                  B_TRANSPOSED ? gl_CooperativeMatrixLayoutColumnMajor
                               : gl_CooperativeMatrixLayoutRowMajor);
    }
    [[unroll]] for (uint i = 0; i < WM / CM; ++i)
      [[unroll]] for (uint j = 0; j < WN / CN; ++j)
        acc[i][j] = coopMatMulAdd(fa[i], fb[j], acc[i][j]);
  }
}

void main() {
  const uint n0 = gl_WorkGroupID.x * BN;
  const uint sg = gl_LocalInvocationID.x / SUBGROUP, lane = gl_LocalInvocationID.x % SUBGROUP;
  const uint wm0 = (sg / (BN / WN)) * WM, wn0 = (sg % (BN / WN)) * WN;
#ifdef WEIGHT_GRADIENT
  const uint e = gl_WorkGroupID.z, m0 = gl_WorkGroupID.y * BM, m_end = pc.M;
  uint first, reduction;
  moe_expert_rows(pc.offsets, e, pc.K, first, reduction);  // pc.K holds S here
  const uint64_t b_at = pc.b;
  OUT_BUF c = OUT_BUF(pc.c + uint64_t(e) * pc.c_expert_stride * OUT_BYTES);
#else
  uint e, m0, m_end;
  if (!moe_row_tile(pc.offsets, pc.first_expert, pc.experts, pc.M, BM, gl_WorkGroupID.y, e, m0,
                    m_end))
    return;
  const uint reduction = pc.K;
  const uint64_t b_at = pc.b + uint64_t(e - pc.first_expert) * pc.b_expert_stride * 2;
  OUT_BUF c = OUT_BUF(pc.c);
#endif

  [[unroll]] for (uint i = 0; i < WM / CM; ++i)
    [[unroll]] for (uint j = 0; j < WN / CN; ++j)
      acc[i][j] = coopmat<float, gl_ScopeSubgroup, CM, CN, gl_MatrixUseAccumulator>(0.0);

  for (uint k0 = 0; k0 < reduction; k0 += BK) {
#ifdef WEIGHT_GRADIENT
    stage(true, pc.a, pc.lda, first + k0, m0, first + reduction, m_end);
    stage(false, b_at, pc.ldb, first + k0, n0, first + reduction, pc.N);
#else
    stage(true, pc.a, pc.lda, m0, k0, m_end, reduction);
    if (B_TRANSPOSED)
      stage(false, b_at, pc.ldb, n0, k0, pc.N, reduction);
    else
      stage(false, b_at, pc.ldb, k0, n0, reduction, pc.N);
#endif
    barrier();
    multiply_tiles(wm0, wn0);
    barrier();
  }

  const uint staging0 = sg * CM * CN;
  [[unroll]] for (uint i = 0; i < WM / CM; ++i) {
    [[unroll]] for (uint j = 0; j < WN / CN; ++j) {
      coopMatStore(acc[i][j], staging, staging0, CN, gl_CooperativeMatrixLayoutRowMajor);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      for (uint l = lane; l < CM * CN; l += SUBGROUP) {
        uint m = m0 + wm0 + i * CM + l / CN, n = n0 + wn0 + j * CN + l % CN;
        if (m >= m_end || n >= pc.N) continue;
        uint at = m * pc.ldc + n;
        float y = pc.alpha * staging[staging0 + l];
        if (pc.beta != 0.0) y += pc.beta * out_load(c, at);
        out_store(c, at, y);
      }
      subgroupBarrier();
    }
  }
}

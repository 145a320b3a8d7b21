// Shared by the attention kernels on GL_KHR_cooperative_matrix (forward, backward dq, backward
// dk/dv; FlashAttention-2 on 16x16x16 f16 x f16 -> f32 matrices, f16 tensors only). A workgroup
// is 4 subgroups of exactly 32 lanes (the op requires that subgroup size); it owns BR = 64 rows
// of one head (its own tile), 16 per subgroup, whose f16 operands each subgroup keeps in
// registers as A matrices, and visits tiles of BC rows of the other side. Visited tiles are
// staged in `tiles` ([region][BC][D + 8 halves], f16vec4, 16-byte loads from global memory,
// zero past T); each subgroup stages its f16 products (P, dS) in its slice of `half_stage`
// ([4 * HALF_STAGES][16][BC + 8]) to feed them back as A matrices.
// Element-wise work on accumulators uses element_index(): the element order of a coopmat is the
// implementation's, but the same for every matrix of one type (element-wise operators rely on
// it) and kept by conversions, so one matrix holding row * 16 + column tells each lane where
// its elements lie. Include after the kernel's `pc` block, with TILE_REGIONS and HALF_STAGES
// defined. head_dim D: a multiple of 16 up to 256; BC: 32 or 64.
#extension GL_KHR_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint D = 128;  // head_dim
layout(constant_id = 1) const uint BC = 64;  // rows of a visited tile
layout(local_size_x = 128) in;

const uint BR = 64;
const uint THREADS = 128;
const uint SUBGROUP = 32;
const uint DB = D / 16;   // 16-column blocks of head_dim
const uint CB = BC / 16;  // 16-row blocks of a visited tile
const uint LD4 = D / 4 + 2;  // f16vec4 per staged row: 16 bytes of padding against bank conflicts
const uint HALF_LD = BC + 8;
const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;

#define ACC coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define ACC16 coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define MAT_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ROW_MAJOR gl_CooperativeMatrixLayoutRowMajor
#define COLUMN_MAJOR gl_CooperativeMatrixLayoutColumnMajor

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufVec16 { uvec4 v[]; };

shared f16vec4 tiles[TILE_REGIONS * BC * LD4];
shared float16_t half_stage[HALF_STAGES * 4 * 16 * HALF_LD];

uint thread_id() { return gl_LocalInvocationID.x; }
#include "attention_mask.glsl"

// Where 16-column block `block` of row `row` of a staged tile starts in `tiles`.
uint tile_at(uint region, uint row, uint block) { return (region * BC + row) * LD4 + block * 4; }

// Staging a visited tile in two halves, so that its global loads (all in flight at once) can
// overlap other work: fetch_rows loads BC rows of an f16 tensor (row r at element r * stride of
// the address `src`, zero at and past row `valid`) into `fetched`; store_rows writes them into
// region `region` of `tiles`. Callers barrier around store_rows.
const uint VECTORS = D / 8;  // 16-byte vectors per row
const uint FETCH_STEPS = (BC * VECTORS + THREADS - 1) / THREADS;
uvec4 fetched[FETCH_STEPS];

void fetch_rows(uint64_t src, uint stride, uint valid) {
  BufVec16 rows = BufVec16(src);
  [[unroll]] for (uint step = 0; step < FETCH_STEPS; ++step) {
    uint i = thread_id() + step * THREADS, r = i / VECTORS, c = i % VECTORS;
    fetched[step] = r < valid && r < BC ? rows.v[(r * stride) / 8 + c] : uvec4(0);
  }
}

void store_rows(uint region) {
  [[unroll]] for (uint step = 0; step < FETCH_STEPS; ++step) {
    uint i = thread_id() + step * THREADS, r = i / VECTORS, c = i % VECTORS;
    if (r >= BC) continue;
    uvec4 x = fetched[step];
    uint at = tile_at(region, r, 0) + 2 * c;
    tiles[at] = f16vec4(unpackFloat2x16(x.x), unpackFloat2x16(x.y));
    tiles[at + 1] = f16vec4(unpackFloat2x16(x.z), unpackFloat2x16(x.w));
  }
}

void stage_rows(uint64_t src, uint stride, uint valid, uint region) {
  fetch_rows(src, stride, valid);
  store_rows(region);
}

// row * 16 + column of each element this lane holds of every ACC (see the top of the file).
ACC element_index() {
  const uint at = gl_SubgroupID * 16 * HALF_LD;
  [[unroll]] for (uint e = gl_SubgroupInvocationID; e < 256; e += SUBGROUP)
    half_stage[at + (e / 16) * HALF_LD + e % 16] = float16_t(e);
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  ACC16 index;
  coopMatLoad(index, half_stage, at, HALF_LD, ROW_MAJOR);
  subgroupBarrier();
  return ACC(index);
}

uint element_row(ACC index, uint i) { return uint(index[i]) >> 4; }
uint element_col(ACC index, uint i) { return uint(index[i]) & 15u; }

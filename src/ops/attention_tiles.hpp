#pragma once
// The tiles of the attention kernels (ops/attention.cpp): the portable kernels' (attention.glsl),
// the coopmat kernels' (attention_coopmat.glsl) and the coopmat2 kernels'
// (attention_coopmat2.glsl), with the shared memory and specialization each takes. Only
// attention.cpp includes this.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"

namespace vktrain::ops::attention_tiles {

// How a tiled kernel's threads share its tiles (attention.glsl): workgroup size, each thread's
// block of scores, its accumulator rows, and the threads across head_dim.
struct Threads {
  uint32_t count, score_rows, score_cols, acc_rows, lanes;
};

// 256 threads for own x visited tiles of 64 x 32 (8 scores and 4 x D/16 accumulators each) or
// 32 x 64 (2 x D/16). One layout for every device: on lavapipe 64 threads with 4x the work each
// ran the backward 1.8x faster but took 3x longer to compile (the larger unrolled blocks), and
// compiling dominates the tests there.
constexpr Threads threads_for(uint32_t own) {
  return own == 64 ? Threads{256, 4, 2, 4, 16} : Threads{256, 2, 4, 2, 16};
}
// Sequences of at most 32 tokens (tests' copy tasks, short prompts and chat turns) take tiles of
// 16 x 16 and 64 threads instead: a 64 x 32 tile there is mostly idle lanes that still run every
// loop and barrier. On lavapipe (4/2 heads, D 16), B 16 x T 12 took 194 ms forward and 444 ms
// backward with the large tiles (attention was 68% of a tiny model's step) and 21 and 67 ms with
// these; at T 32, 142 -> 68 and 376 -> 229 ms; at T 64 only the forward gained (1.35x).
constexpr uint32_t kShortSequence = 32;
constexpr Threads kShortThreads{64, 2, 2, 4, 16};

// The tiles of one tiled kernel (attention.glsl): rows of its own tile and of each visited tile,
// head_dim columns per score step and visited rows per accumulation step, products per score
// step, the kernel's other shared floats, and how its threads share them.
struct Tiles {
  uint32_t own, visit, slice, rows, pairs, extra_floats;
  Threads threads;

  uint32_t acc_cols(uint32_t D) const { return (D + threads.lanes - 1) / threads.lanes; }
  std::vector<uint32_t> spec(uint32_t D) const {
    return {D, own, visit, slice, rows, threads.score_rows, threads.score_cols, threads.acc_rows,
            acc_cols(D), threads.lanes, threads.count};
  }
  uint64_t shared_bytes(uint32_t D) const {
    uint64_t stage = std::max<uint64_t>(uint64_t(pairs) * slice * (own + 1 + visit + 1),
                                        uint64_t(rows) * D);
    return 4 * (stage + uint64_t(own) * (visit + 1) + own + visit + extra_floats);
  }
  // Loop iterations a thread runs per visited tile, an estimate from above of attention.glsl's
  // loops that are not unrolled (score steps over D with their staging loads, the masks' and the
  // softmax's loops over tile rows, accumulation steps with theirs), for require_loop_budget.
  uint64_t loop_iterations_per_visit(uint32_t D) const {
    uint64_t score = ceil_div(D, slice) *
                     (1 + ceil_div(uint64_t(pairs) * (own + visit) * slice, threads.count) + slice);
    uint64_t accumulate = ceil_div(visit, rows) * (1 + ceil_div(uint64_t(rows) * D, threads.count) + rows);
    return 1 + score + 4 * (own + visit) + accumulate;
  }
  constexpr bool fits_threads() const {
    return (own / threads.score_rows) * (visit / threads.score_cols) == threads.count &&
           (own / threads.acc_rows) * threads.lanes == threads.count;
  }
};

// Forward and dq: 64 queries, key tiles of 32. The forward takes wider score steps where D
// leaves room (fewer barriers). Shared memory at D = 256: 25.4 KiB, 24.6 KiB.
constexpr Tiles forward_tiles(uint32_t D, uint32_t T) {
  if (T <= kShortSequence) return {16, 16, 16, 16, 1, 3 * 16, kShortThreads};
  return {64, 32, D <= 128 ? 32u : 16u, 16, 1, 3 * 64, threads_for(64)};
}
constexpr Tiles backward_q_tiles(uint32_t T) {
  if (T <= kShortSequence) return {16, 16, 16, 16, 2, 0, kShortThreads};
  return {64, 32, 16, 16, 2, 0, threads_for(64)};
}
// dk/dv: 64 keys, query tiles of 32 (the forward's layout) up to D = 128; beyond, 32 keys and
// query tiles of 64, so that the two accumulators (dk, dv) hold 64 floats a thread, as the
// forward's one at D = 256. Shared memory at D = 256: 21.3 KiB.
constexpr Tiles backward_kv_tiles(uint32_t D, uint32_t T) {
  if (T <= kShortSequence) return {16, 16, 16, 16, 2, 2 * 16, kShortThreads};
  if (D <= 128) return {64, 32, 16, 16, 2, 2 * 32, threads_for(64)};
  return {32, 64, 16, 8, 2, 2 * 64, threads_for(32)};
}
static_assert(forward_tiles(256, 33).fits_threads() && backward_q_tiles(33).fits_threads() &&
              backward_kv_tiles(128, 33).fits_threads() &&
              backward_kv_tiles(256, 33).fits_threads() && forward_tiles(256, 16).fits_threads() &&
              backward_q_tiles(16).fits_threads() && backward_kv_tiles(256, 16).fits_threads());

// The cooperative-matrix kernels (attention_coopmat.glsl; f16 and bf16 alike): 4 subgroups of
// `subgroup` lanes (the matmul kernel's size, ops::matmul_coopmat_subgroup), matrices of side
// `fragment` (16, or 8 where the device lists only 8x8x8: lavapipe), each subgroup `row_blocks`
// blocks of `fragment` own rows, visited tiles of `visit` rows. GPU defaults: 16 rows a subgroup;
// visited tiles of 64 for the forward and dq up to D = 128 (fewer barriers per product), 32
// beyond and for dk/dv (whose two 16-bit stages and two staged operands would not fit 48 KiB at
// 64). On a CPU driver visited tiles of one matrix side: its compiler unrolls every fragment
// product into scalar code, and compiling dominates there (lavapipe took minutes for one forward
// at visited tiles of 32, D 64). AttentionOptions::coopmat_tile overrides rows and
// tiles for sweeps.
enum class CoopmatKernel { forward, backward_q, backward_kv };

struct CoopmatTiles {
  const char* name;
  uint32_t visit, regions, stages, fragment, row_blocks, subgroup;

  uint32_t own() const { return 4 * row_blocks * fragment; }
  // Mirrors the shared arrays of the kernel: staged tiles (16-bit, rows of D + 8), per-subgroup
  // 16-bit stages (rows of visit + 8), document ids, the element index, and the kernel's own
  // floats (the forward: a stage of fragment + 4 floats a row, maximum, factor and base per own
  // row; dq: lse and delta per own row; dk/dv: per visited row).
  uint64_t shared_bytes(CoopmatKernel kernel, uint32_t D) const {
    uint64_t extra = kernel == CoopmatKernel::forward      ? own() * (fragment + 4 + 3)
                     : kernel == CoopmatKernel::backward_q ? 2 * own()
                                                           : 2 * visit;
    return uint64_t(regions) * visit * (D + 8) * 2 + uint64_t(stages) * own() * (visit + 8) * 2 +
           4 * (own() + visit + fragment * fragment + extra);
  }
  std::vector<uint32_t> spec(uint32_t D) const {
    return {D, visit, fragment, row_blocks, subgroup, 4 * subgroup};
  }
};

inline CoopmatTiles coopmat_tiles(const vk::Capabilities& caps, CoopmatKernel kernel, DType dtype,
                           uint32_t D, const CoopmatTile& tile = {}) {
  const uint32_t fragment = coopmat_khr_fragment(caps, dtype).m;
  const uint32_t subgroup = matmul_coopmat_subgroup(caps);
  const uint32_t visit = !caps.is_gpu() ? fragment : D > 128 ? 32 : 64;
  CoopmatTiles t{};
  switch (kernel) {
    case CoopmatKernel::forward: t = {"attention_forward", visit, 1, 1}; break;
    case CoopmatKernel::backward_q: t = {"attention_backward_q", visit, 2, 1}; break;
    case CoopmatKernel::backward_kv:
      t = {"attention_backward_kv", caps.is_gpu() ? 32 : visit, 2, 2};
      break;
  }
  t.fragment = fragment;
  t.row_blocks = tile.row_blocks ? tile.row_blocks : caps.is_gpu() && fragment == 8 ? 2 : 1;
  if (tile.visit) t.visit = tile.visit;
  t.subgroup = subgroup;
  return t;
}

// The GL_NV_cooperative_matrix2 kernels (attention_coopmat2.glsl; f16 and bf16 alike): own x
// visited tiles of workgroup-scope matrices over 128 threads, which the compiler stages through
// shared memory itself. Forward and dq: 64 x 64 up to head_dim 128, 64 x 32 beyond, as
// llama.cpp's coopmat2 flash attention takes on NVIDIA; dk/dv, whose two f32 accumulators (dk,
// dv) are held at once: 64 x 32 up to head_dim 128, 32 x 32 beyond, as many accumulator floats
// a thread as the coopmat dk/dv kernel's. Not yet swept on a GPU.
struct Coopmat2Tiles {
  const char* name;
  uint32_t own, visit, threads;

  std::vector<uint32_t> spec(uint32_t D) const { return {D, own, visit, threads}; }
};

inline Coopmat2Tiles coopmat2_tiles(CoopmatKernel kernel, uint32_t D, const CoopmatTile& tile = {}) {
  Coopmat2Tiles t{"attention_backward_kv", D > 128 ? 32u : 64u, 32, 128};
  if (kernel == CoopmatKernel::forward) t = {"attention_forward", 64, D > 128 ? 32u : 64u, 128};
  if (kernel == CoopmatKernel::backward_q) t = {"attention_backward_q", 64, D > 128 ? 32u : 64u, 128};
  if (tile.own) t.own = tile.own;
  if (tile.visit) t.visit = tile.visit;
  if (tile.threads) t.threads = tile.threads;
  return t;
}

}  // namespace vktrain::ops::attention_tiles

#pragma once
// Scaled dot-product attention in tiles (flash-attention): the T x T scores never reach device
// memory, so memory is O(T). Shapes (B batch, T time, Hq query heads, Hkv kv heads, D head_dim):
//   q, o, dout, dq  [B, T, Hq, D]     k, v, dk, dv  [B, T, Hkv, D]   (one activation dtype:
//   lse             [B, Hq, T] f32                                     f32, f16 or bf16)
//   documents       [B, T] i32 (optional)
//   sinks, dsinks   [Hq] f32 (optional)
// Grouped-query attention: query head h reads kv head h / (Hq / Hkv); Hq must be a multiple of
// Hkv. head_dim up to 256. Each tensor must lie in one allocation span.
// Variants: the portable shared-memory kernels (every device and dtype), and kernels on
// GL_KHR_cooperative_matrix (f16 or bf16 tensors, head_dim a multiple of 16, devices with
// 16x16x16 or 8x8x8 f16 -> f32 or bf16 -> f32 matrices, at the subgroup size the coopmat matmul
// runs at, this build's glslc permitting), and kernels on GL_NV_cooperative_matrix2 (f16 or
// bf16, any head_dim, devices with VK_NV_cooperative_matrix2's workgroup-scope matrices, tensor
// addressing, reductions and per-element operations).
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

enum class AttentionVariant { automatic, portable, coopmat, coopmat2 };

// The cooperative-matrix kernels' tiles, for benchmarks' sweeps; 0: the op's choice. coopmat
// (attention_coopmat.glsl): blocks of own rows per subgroup (each visited fragment serves that
// many products) and rows of a visited tile, a multiple of the matrix side. coopmat2
// (attention_coopmat2.glsl; all three kernels alike): own rows, `visit` rows of a visited tile,
// and threads.
struct CoopmatTile {
  uint32_t row_blocks = 0, visit = 0;
  uint32_t own = 0, threads = 0;  // coopmat2 only
};

std::string_view attention_variant_name(AttentionVariant v);

struct AttentionOptions {
  bool causal = true;  // key j visible from query i only if j <= i
  // 0: no window. Otherwise key j is visible from query i only if i - j < window (transformers'
  // sliding window); without `causal`, only if |i - j| < window.
  int64_t window = 0;
  // The softmax scale (1 / sqrt(D) for most models, Gemma: query_pre_attn_scalar^-1/2). No
  // default: it must be set.
  float scale = std::numeric_limits<float>::quiet_NaN();
  // Packed sequences: key j is visible from query i only if documents[b, j] == documents[b, i].
  const Tensor* documents = nullptr;
  // Attention sinks (gpt-oss): a learned logit per query head, [Hq] f32, that joins the softmax
  // of every row of its head as one more column, not scaled and never masked, whose value is
  // zero: p_ij = exp(s_ij - L_i) with L_i = log(sum over visible j of exp(s_ij) + exp(sinks[h])).
  // A row that sees no key then gives o = 0 and lse = sinks[h]. null: none.
  const Tensor* sinks = nullptr;
  // automatic: attention_automatic_variant's choice where the call's tensors let it run, else
  // portable.
  AttentionVariant variant = AttentionVariant::automatic;
  // Parts the dk/dv backward cuts each key tile's query visits into, each summed in order into
  // dk and dv (deterministic): 0 chooses (more than 1 only on GPUs that B x Hkv x key tiles
  // would leave idle, as with Gemma-3's one kv head), 1 none. Tests and benchmarks force it.
  uint32_t kv_parts = 0;
  CoopmatTile coopmat_tile;  // the coopmat kernels' tiles: benchmarks sweep them
};

// Empty when `variant` can run tensors of `dtype` with this head_dim here; otherwise why not, in
// words. (The coopmat and coopmat2 kernels also need 16-byte aligned q, k, v and dout; automatic
// checks that per call.)
std::string attention_unavailable(const vk::Context& context, AttentionVariant variant,
                                  DType dtype, int64_t head_dim);

// The variant `automatic` takes for tensors of `dtype` with this head_dim here (a call whose
// tensors it cannot load runs portable): what `vktrain doctor` reports.
AttentionVariant attention_automatic_variant(const vk::Context& context, DType dtype,
                                             int64_t head_dim);

// o = softmax(scale * q k^T + mask) v per head; lse = log-sum-exp of the scaled, masked scores
// of each query row (natural log; the sink's logit included), saved for the backward.
void attention_forward(vk::Recorder& rec, Tensor& o, Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const AttentionOptions& options);

// The gradients of attention_forward's o for the upstream gradient dout, added into dq, dk and
// dv or written to them, as `store` says (all three alike). Recomputes the probabilities from
// q, k and lse (FlashAttention-2); deterministic, no atomics. With options.sinks, `dsinks` (f32
// [Hq], or null where the sinks are frozen) gets the sinks' gradient, stored as `sinks_store`
// says (a model's parameter gradient adds while dq, dk and dv are written), else as `store`:
// dsinks[h] = -sum over b, i of exp(sinks[h] - lse[b, h, i]) * (dout . o)[b, i, h], summed in a
// fixed order.
// The bytes attention_backward keeps alive for the recording's life: delta, one f32 per query
// row of each head (like lse), for `tokens` = B T (the memory plan asks).
uint64_t attention_backward_scratch_bytes(uint64_t tokens, uint64_t query_heads);

void attention_backward(vk::Recorder& rec, Tensor& dq, Tensor& dk, Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                        const Tensor& lse, const AttentionOptions& options,
                        GradientStore store = GradientStore::add, Tensor* dsinks = nullptr,
                        std::optional<GradientStore> sinks_store = std::nullopt);

}  // namespace vktrain::ops

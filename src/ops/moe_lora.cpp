#include "ops/moe_lora.hpp"

#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

// A parameter's gradient: f32, as many elements as the parameter.
void require_gradient(const char* op, const Tensor* grad, const Tensor& param, const char* what) {
  if (grad && (grad->dtype != DType::f32 || grad->numel() != param.numel()))
    fail("[{}] the gradient of {} must be f32 with its {} elements, got {}", op, what,
         param.numel(), grad->describe());
}

}  // namespace

uint64_t moe_lora_rank(const char* op, const MoeExpertLora& lora, const Tensor& weight,
                       DType activations) {
  if (!lora.a && !lora.b) return 0;
  if (!lora.a || !lora.b) fail("[{}] an expert adapter needs both A and B", op);
  const Tensor &a = *lora.a, &b = *lora.b;
  if (a.dtype != activations || b.dtype != activations)
    fail("[{}] the expert adapter {} and {} must be {}, the activations' dtype", op, a.describe(),
         b.describe(), dtype_name(activations));
  const int64_t E = weight.shape[0], R = weight.shape[1], Q = weight.shape[2];
  if (a.shape.size() != 3 || a.shape[0] != E || a.shape[2] != Q || a.shape[1] <= 0)
    fail("[{}] the expert adapter's A must be [{}, r, {}] for {}, got {}", op, E, Q,
         weight.describe(), a.describe());
  const int64_t r = a.shape[1];
  moe::require_shape(op, b, {E, R, r});
  return uint64_t(r);
}

void moe_lora_hidden(vk::Recorder& rec, Tensor& u, const Tensor& x, const MoeExpertLora& lora,
                     const Tensor& offsets) {
  moe_matmul(rec, u, x, *lora.a, offsets);
}

void moe_lora_apply(vk::Recorder& rec, Tensor& y, const Tensor& u, const MoeExpertLora& lora,
                    const Tensor& offsets, MoeWeightBand band) {
  moe_matmul(rec, y, u, *lora.b, offsets, {.alpha = lora.scale, .beta = 1.0f, .band = band});
}

void moe_lora_backward_band(vk::Recorder& rec, Tensor& du, const MoeExpertLoraGradients& grads,
                            const Tensor& dy, const Tensor& u, const MoeExpertLora& lora,
                            const Tensor& offsets, MoeWeightBand band, bool accumulate) {
  require_gradient("moe_lora_backward", grads.b, *lora.b, "B");
  if (grads.b) moe_matmul_weight(rec, *grads.b, dy, u, offsets, lora.scale, 1.0f, band);
  moe_matmul(rec, du, dy, *lora.b, offsets,
             {.trans_w = false, .alpha = lora.scale, .beta = accumulate ? 1.0f : 0.0f,
              .band = band});
}

void moe_lora_backward_input(vk::Recorder& rec, Tensor& dx, const MoeExpertLoraGradients& grads,
                             const Tensor& du, const Tensor& x, const MoeExpertLora& lora,
                             const Tensor& offsets) {
  require_gradient("moe_lora_backward", grads.a, *lora.a, "A");
  if (grads.a) moe_matmul_weight(rec, *grads.a, du, x, offsets);
  moe_matmul(rec, dx, du, *lora.a, offsets, {.trans_w = false, .beta = 1.0f});
}

namespace {

// B [E, R, r] <-> PEFT's lora_B [R, r * E]: one index map, read one way or the other.
std::vector<float> permute_b(std::span<const float> from, uint64_t experts, uint64_t rows,
                             uint64_t rank, bool to_peft) {
  if (from.size() != experts * rows * rank)
    fail("[moe_lora] lora_B has {} values, not the {} of {} experts x {} rows x rank {}",
         from.size(), experts * rows * rank, experts, rows, rank);
  std::vector<float> to(from.size());
  for (uint64_t e = 0; e < experts; ++e)
    for (uint64_t o = 0; o < rows; ++o)
      for (uint64_t j = 0; j < rank; ++j) {
        const uint64_t ours = (e * rows + o) * rank + j, peft = o * rank * experts + j * experts + e;
        to[to_peft ? peft : ours] = from[to_peft ? ours : peft];
      }
  return to;
}

}  // namespace

std::vector<float> moe_lora_b_from_peft(std::span<const float> peft, uint64_t experts,
                                        uint64_t rows, uint64_t rank) {
  return permute_b(peft, experts, rows, rank, false);
}

std::vector<float> moe_lora_b_to_peft(std::span<const float> b, uint64_t experts, uint64_t rows,
                                      uint64_t rank) {
  return permute_b(b, experts, rows, rank, true);
}

}  // namespace vktrain::ops

#include "ops/moe.hpp"

#include "base/error.hpp"
#include "ops/column_sum.hpp"
#include "ops/elementwise.hpp"
#include "ops/lora.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_aux.hpp"
#include "ops/moe_bias.hpp"
#include "ops/moe_common.hpp"
#include "ops/moe_group.hpp"
#include "ops/moe_matmul.hpp"

namespace vktrain::ops {
namespace {

using Slot = MoeScratchSlot;

struct ScratchSpec {
  Slot slot;
  const char* name;
  DType dtype;
  std::vector<int64_t> shape;
};

// Every scratch tensor: the one table both the byte count and the allocation read.
std::vector<ScratchSpec> scratch_specs(const MoeBlockShape& s, DType act, bool backward) {
  int64_t T = int64_t(s.tokens), C = int64_t(s.hidden), F = int64_t(s.intermediate),
          E = int64_t(s.experts), k = int64_t(s.k), S = T * k;
  int64_t counts = int64_t(moe_group_scratch_elements(uint64_t(S), s.experts));
  std::vector<ScratchSpec> specs = {
      {Slot::logits, "moe.logits", DType::f32, {T, E}},
      {Slot::ids, "moe.ids", DType::i32, {T, k}},
      {Slot::weights, "moe.weights", DType::f32, {T, k}},
      {Slot::probs, "moe.probs", DType::f32, {T, E}},
      {Slot::offsets, "moe.offsets", DType::i32, {E + 1}},
      {Slot::rows, "moe.rows", DType::i32, {S}},
      {Slot::positions, "moe.positions", DType::i32, {T, k}},
      {Slot::group_counts, "moe.group_counts", DType::i32, {counts}},
      {Slot::xe, "moe.xe", act, {S, C}},
      {Slot::gate, "moe.gate", act, {S, F}},
      {Slot::up, "moe.up", act, {S, F}},
      {Slot::h, "moe.h", act, {S, F}},
      {Slot::ye, "moe.ye", act, {S, C}},
  };
  if (backward) {
    specs.insert(specs.end(), {
                                  {Slot::dweights, "moe.dweights", DType::f32, {T, k}},
                                  {Slot::dlogits, "moe.dlogits", DType::f32, {T, E}},
                                  {Slot::dlogits_cast, "moe.dlogits_cast", act, {T, E}},
                                  {Slot::dye, "moe.dye", act, {S, C}},
                                  {Slot::dh, "moe.dh", act, {S, F}},
                                  {Slot::dgate, "moe.dgate", act, {S, F}},
                                  {Slot::dup, "moe.dup", act, {S, F}},
                                  {Slot::dxe, "moe.dxe", act, {S, C}},
                              });
  }
  return specs;
}

void check_block(const char* op, const MoeScratch& scratch, const Tensor& x,
                 const MoeBlockWeights& w, const MoeBlockShape& s, bool backward) {
  if (!w.router || !w.gate_up || !w.down)
    fail("[{}] the router, gate_up and down weights are required", op);
  int64_t C = int64_t(s.hidden), F = int64_t(s.intermediate), E = int64_t(s.experts);
  moe::require_shape(op, x, {int64_t(s.tokens), C});
  moe::require_shape(op, *w.router, {E, C});
  moe::require_shape(op, *w.gate_up, {E, 2 * F, C});
  moe::require_shape(op, *w.down, {E, C, F});
  for (auto [bias, shape] : {std::pair{w.router_bias, std::vector<int64_t>{E}},
                             std::pair{w.gate_up_bias, std::vector<int64_t>{E, 2 * F}},
                             std::pair{w.down_bias, std::vector<int64_t>{E, C}}}) {
    if (!bias) continue;
    moe::require_dtype(op, *bias, DType::f32);
    moe::require_shape(op, *bias, shape);
  }
  moe_lora_rank(op, w.gate_up_lora, *w.gate_up, x.dtype);
  moe_lora_rank(op, w.down_lora, *w.down, x.dtype);
  size_t needed = size_t(backward ? Slot::count : Slot::dweights);
  if (scratch.tensors.size() < needed)
    fail("[{}] the scratch has {} tensors, not the {} of make_moe_scratch", op,
         scratch.tensors.size(), needed);
  for (const auto& spec : scratch_specs(s, x.dtype, backward)) {
    moe::require_dtype(op, scratch[spec.slot], spec.dtype);
    moe::require_shape(op, scratch[spec.slot], spec.shape);
  }
}

MoeWeightBand gate_band(const MoeBlockShape& s) { return {0, s.intermediate}; }
MoeWeightBand up_band(const MoeBlockShape& s) { return {s.intermediate, s.intermediate}; }

// An expert adapter's [S, r] tensor, recorded into and kept as long as the recording.
Tensor& lora_scratch(vk::Recorder& rec, std::vector<Tensor>& kept, const Tensor& x,
                     const MoeExpertLora& lora, const char* name) {
  kept.push_back(make_tensor(rec.context(), x.dtype, {x.shape[0], lora.a->shape[1]}, name));
  return kept.back();
}

void keep_scratch(vk::Recorder& rec, std::vector<Tensor>& kept) {
  for (Tensor& t : kept) rec.keep(std::move(t.memory));
}

}  // namespace

uint64_t moe_scratch_bytes(const MoeBlockShape& shape, DType activations, bool backward) {
  uint64_t bytes = 0;
  for (const auto& spec : scratch_specs(shape, activations, backward)) {
    uint64_t n = 1;
    for (int64_t d : spec.shape) n *= uint64_t(d);
    bytes += dtype_bytes(spec.dtype, n);
  }
  return bytes;
}

uint64_t moe_lora_scratch_bytes(const MoeBlockShape& shape, DType activations,
                                uint64_t gate_up_rank, uint64_t down_rank, bool backward) {
  const uint64_t S = shape.tokens * shape.k, per_rank = backward ? 2 : 1;
  uint64_t bytes = 0;
  for (uint64_t r : {gate_up_rank, down_rank})
    if (r) bytes += per_rank * vk::allocated_bytes(dtype_bytes(activations, S * r));
  return bytes;
}

MoeScratch make_moe_scratch(vk::Context& context, const MoeBlockShape& shape, DType activations,
                            bool backward) {
  MoeScratch scratch;
  scratch.tensors.resize(size_t(Slot::count));
  for (auto& spec : scratch_specs(shape, activations, backward))
    scratch[spec.slot] = make_tensor(context, spec.dtype, spec.shape, spec.name);
  return scratch;
}

void moe_forward(vk::Recorder& rec, Tensor& y, MoeScratch& scratch, const Tensor& x,
                 const MoeBlockWeights& weights, const MoeBlockShape& shape,
                 const MoeBlockOptions& options, const MoeAux& aux) {
  check_block("moe_forward", scratch, x, weights, shape, false);
  auto& sc = scratch;
  matmul(rec, sc[Slot::logits], x, *weights.router, {.trans_b = true});
  if (weights.router_bias) add_bias(rec, sc[Slot::logits], *weights.router_bias);
  moe_router_forward(rec, sc[Slot::ids], sc[Slot::weights], &sc[Slot::probs], sc[Slot::logits],
                     options.router);
  moe_group(rec, sc[Slot::offsets], sc[Slot::rows], sc[Slot::positions], sc[Slot::group_counts],
            sc[Slot::ids], uint32_t(shape.experts));
  if (aux.stats)
    moe_aux_statistics(rec, *aux.stats, sc[Slot::probs], sc[Slot::ids], aux.token_mask,
                       aux.first_layer ? GradientStore::write : GradientStore::add);
  moe_gather(rec, sc[Slot::xe], x, sc[Slot::rows]);
  moe_matmul(rec, sc[Slot::gate], sc[Slot::xe], *weights.gate_up, sc[Slot::offsets],
             {.band = gate_band(shape)});
  moe_matmul(rec, sc[Slot::up], sc[Slot::xe], *weights.gate_up, sc[Slot::offsets],
             {.band = up_band(shape)});
  std::vector<Tensor> kept;
  kept.reserve(2);
  if (const auto& lora = weights.gate_up_lora) {
    Tensor& u = lora_scratch(rec, kept, sc[Slot::xe], lora, "moe.gate_up lora hidden");
    moe_lora_hidden(rec, u, sc[Slot::xe], lora, sc[Slot::offsets]);
    moe_lora_apply(rec, sc[Slot::gate], u, lora, sc[Slot::offsets], gate_band(shape));
    moe_lora_apply(rec, sc[Slot::up], u, lora, sc[Slot::offsets], up_band(shape));
  }
  if (weights.gate_up_bias) {
    moe_bias_forward(rec, sc[Slot::gate], *weights.gate_up_bias, sc[Slot::offsets],
                     gate_band(shape));
    moe_bias_forward(rec, sc[Slot::up], *weights.gate_up_bias, sc[Slot::offsets], up_band(shape));
  }
  if (options.clamped_swiglu)
    moe_swiglu_forward(rec, sc[Slot::h], sc[Slot::gate], sc[Slot::up], options.clamp);
  else
    glu_forward(rec, sc[Slot::h], sc[Slot::gate], sc[Slot::up], options.activation);
  moe_matmul(rec, sc[Slot::ye], sc[Slot::h], *weights.down, sc[Slot::offsets]);
  if (const auto& lora = weights.down_lora) {
    Tensor& u = lora_scratch(rec, kept, sc[Slot::h], lora, "moe.down lora hidden");
    moe_lora_hidden(rec, u, sc[Slot::h], lora, sc[Slot::offsets]);
    moe_lora_apply(rec, sc[Slot::ye], u, lora, sc[Slot::offsets]);
  }
  keep_scratch(rec, kept);
  if (weights.down_bias) moe_bias_forward(rec, sc[Slot::ye], *weights.down_bias, sc[Slot::offsets]);
  moe_combine(rec, y, sc[Slot::ye], sc[Slot::positions], sc[Slot::offsets], &sc[Slot::weights]);
}

void moe_backward(vk::Recorder& rec, Tensor& dx, const MoeBlockGradients& grads,
                  MoeScratch& scratch, const Tensor& dy, const Tensor& x,
                  const MoeBlockWeights& weights, const MoeBlockShape& shape,
                  const MoeBlockOptions& options, const MoeAux& aux, GradientStore store) {
  check_block("moe_backward", scratch, x, weights, shape, true);
  auto& sc = scratch;
  const Tensor& offsets = sc[Slot::offsets];
  // The combine: routing weights' gradient, and dy to each expert row, weighted.
  moe_combine_backward_weights(rec, sc[Slot::dweights], dy, sc[Slot::ye], sc[Slot::positions],
                               offsets);
  moe_gather(rec, sc[Slot::dye], dy, sc[Slot::rows], &sc[Slot::weights]);
  // down, the gated unit, gate and up.
  moe_matmul(rec, sc[Slot::dh], sc[Slot::dye], *weights.down, offsets, {.trans_w = false});
  if (grads.down) moe_matmul_weight(rec, *grads.down, sc[Slot::dye], sc[Slot::h], offsets);
  std::vector<Tensor> kept;
  kept.reserve(4);
  if (const auto& lora = weights.down_lora) {
    // u again from h (cheaper than keeping it: [S, r] each way), then the adapter's share of dh.
    Tensor& u = lora_scratch(rec, kept, sc[Slot::h], lora, "moe.down lora hidden");
    Tensor& du = lora_scratch(rec, kept, sc[Slot::h], lora, "moe.down lora hidden grad");
    moe_lora_hidden(rec, u, sc[Slot::h], lora, offsets);
    moe_lora_backward_band(rec, du, grads.down_lora, sc[Slot::dye], u, lora, offsets, {}, false);
    moe_lora_backward_input(rec, sc[Slot::dh], grads.down_lora, du, sc[Slot::h], lora, offsets);
  }
  if (grads.down_bias) moe_bias_backward(rec, *grads.down_bias, sc[Slot::dye], offsets);
  if (options.clamped_swiglu)
    moe_swiglu_backward(rec, sc[Slot::dgate], sc[Slot::dup], sc[Slot::dh], sc[Slot::gate],
                        sc[Slot::up], options.clamp, GradientStore::write);
  else
    glu_backward(rec, sc[Slot::dgate], sc[Slot::dup], sc[Slot::dh], sc[Slot::gate], sc[Slot::up],
                 options.activation, GradientStore::write);
  if (grads.gate_up_bias) {
    moe_bias_backward(rec, *grads.gate_up_bias, sc[Slot::dgate], offsets, gate_band(shape));
    moe_bias_backward(rec, *grads.gate_up_bias, sc[Slot::dup], offsets, up_band(shape));
  }
  moe_matmul(rec, sc[Slot::dxe], sc[Slot::dgate], *weights.gate_up, offsets,
             {.trans_w = false, .band = gate_band(shape)});
  moe_matmul(rec, sc[Slot::dxe], sc[Slot::dup], *weights.gate_up, offsets,
             {.trans_w = false, .beta = 1.0f, .band = up_band(shape)});
  if (grads.gate_up) {
    moe_matmul_weight(rec, *grads.gate_up, sc[Slot::dgate], sc[Slot::xe], offsets, 1.0f, 1.0f,
                      gate_band(shape));
    moe_matmul_weight(rec, *grads.gate_up, sc[Slot::dup], sc[Slot::xe], offsets, 1.0f, 1.0f,
                      up_band(shape));
  }
  if (const auto& lora = weights.gate_up_lora) {
    Tensor& u = lora_scratch(rec, kept, sc[Slot::xe], lora, "moe.gate_up lora hidden");
    Tensor& du = lora_scratch(rec, kept, sc[Slot::xe], lora, "moe.gate_up lora hidden grad");
    moe_lora_hidden(rec, u, sc[Slot::xe], lora, offsets);
    moe_lora_backward_band(rec, du, grads.gate_up_lora, sc[Slot::dgate], u, lora, offsets,
                           gate_band(shape), false);
    moe_lora_backward_band(rec, du, grads.gate_up_lora, sc[Slot::dup], u, lora, offsets,
                           up_band(shape), true);
    moe_lora_backward_input(rec, sc[Slot::dxe], grads.gate_up_lora, du, sc[Slot::xe], lora,
                            offsets);
  }
  keep_scratch(rec, kept);
  moe_combine(rec, dx, sc[Slot::dxe], sc[Slot::positions], offsets, nullptr, store);
  // The router: its logits' gradient (plus the auxiliary loss's), then its linear layer.
  moe_router_backward(rec, sc[Slot::dlogits], sc[Slot::dweights], sc[Slot::logits], sc[Slot::ids],
                      options.router, GradientStore::write);
  if (aux.stats)
    moe_aux_loss_backward(rec, sc[Slot::dlogits], sc[Slot::logits], *aux.stats, aux.coefficient,
                          aux.token_mask);
  if (grads.router_bias) column_sum(rec, *grads.router_bias, sc[Slot::dlogits], true);
  // ops::matmul multiplies one dtype: the f32 logits' gradient in x's dtype, as a framework
  // running the router in that dtype has it.
  const Tensor* dlogits = &sc[Slot::dlogits];
  if (x.dtype != DType::f32) {
    convert(rec, sc[Slot::dlogits_cast], sc[Slot::dlogits]);
    dlogits = &sc[Slot::dlogits_cast];
  }
  matmul(rec, dx, *dlogits, *weights.router, {.beta = 1.0f});
  if (grads.router) matmul(rec, *grads.router, *dlogits, x, {.trans_a = true, .beta = 1.0f});
}

}  // namespace vktrain::ops

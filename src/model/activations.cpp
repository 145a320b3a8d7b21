#include "model/activations.hpp"

#include <iterator>
#include <string>

#include "io/lora_config.hpp"

namespace vktrain::model {

namespace {

// One tensor of the plan: where it goes, what it is, and how many copies exist.
//  - layer: a field of LayerActivations. `saved`: one per layer (one in all with recompute);
//    otherwise no backward reads it and every layer's field views one shared tensor.
//  - grad: a field of ActivationGradients, one for every layer.
//  - model: a field of Activations, one tensor.
//  - none of these: the residual stream, one per layer and one more.
struct Entry {
  const char* name;
  std::vector<int64_t> shape;
  DType dtype;
  Tensor LayerActivations::*layer = nullptr;
  bool saved = true;
  Tensor ActivationGradients::*grad = nullptr;
  Tensor Activations::*model = nullptr;
};

// The one table both the allocation and activation_bytes() read. Letters as in the header.
std::vector<Entry> activation_table(const io::ModelConfig& c, DType dtype, int64_t B, int64_t T,
                                    int64_t lora_rank) {
  const int64_t N = B * T, C = c.hidden_size, F = c.intermediate_size;
  const int64_t Q = c.num_heads * c.head_dim, KV = c.num_kv_heads * c.head_dim;
  const DType f32 = DType::f32;
  using A = LayerActivations;
  using G = ActivationGradients;
  std::vector<Entry> t;
  auto act = [&](Tensor A::*field, const char* name, std::vector<int64_t> shape,
                 DType type, bool saved = true) {
    t.push_back({name, std::move(shape), type, field, saved});
  };
  auto grad = [&](Tensor G::*field, const char* name, std::vector<int64_t> shape) {
    t.push_back({name, std::move(shape), dtype, nullptr, true, field});
  };
  act(&A::norm_in, "input norm", {N, C}, dtype);
  act(&A::norm_in_rstd, "input norm rstd", {N}, f32);
  act(&A::q, "q", {N, Q}, dtype, c.qk_norm);
  act(&A::k, "k", {N, KV}, dtype, c.qk_norm);
  act(&A::v, "v", {N, KV}, dtype);
  if (c.qk_norm) {
    act(&A::q_rstd, "q norm rstd", {N * c.num_heads}, f32);
    act(&A::k_rstd, "k norm rstd", {N * c.num_kv_heads}, f32);
  }
  act(&A::q_rotated, "q rotated", {N, Q}, dtype);
  act(&A::k_rotated, "k rotated", {N, KV}, dtype);
  act(&A::attention, "attention", {N, Q}, dtype);
  act(&A::lse, "attention lse", {B, c.num_heads, T}, f32);
  act(&A::attention_out, "attention output", {N, C}, dtype, c.sandwich_norms);
  act(&A::middle, "middle residual", {N, C}, dtype);
  act(&A::norm_ffn, "ffn norm", {N, C}, dtype);
  act(&A::norm_ffn_rstd, "ffn norm rstd", {N}, f32);
  const bool dense = c.any_dense_layer();
  if (dense) {
    act(&A::gate, "gate", {N, F}, dtype);
    act(&A::up, "up", {N, F}, dtype);
    act(&A::product, "gated product", {N, F}, dtype);
  }
  act(&A::ffn_out, "ffn output", {N, C}, dtype, c.sandwich_norms);
  if (c.sandwich_norms) {
    act(&A::post_attention_rstd, "post-attention norm rstd", {N}, f32);
    act(&A::post_ffn_rstd, "post-ffn norm rstd", {N}, f32);
  }
  if (lora_rank > 0)
    act(&A::lora_hidden, "LoRA hidden", {int64_t(std::size(io::kLinearModules)), N, lora_rank},
        dtype);
  auto model = [&](Tensor Activations::*field, const char* name, std::vector<int64_t> shape,
                   DType type) {
    t.push_back({name, std::move(shape), type, nullptr, true, nullptr, field});
  };
  t.push_back({"residual", {N, C}, dtype});
  model(&Activations::final_norm, "final norm", {N, C}, dtype);
  model(&Activations::final_norm_rstd, "final norm rstd", {N}, f32);
  grad(&G::residual, "residual", {N, C});
  grad(&G::norm_in, "input norm", {N, C});
  grad(&G::q, "q", {N, Q});
  grad(&G::k, "k", {N, KV});
  grad(&G::v, "v", {N, KV});
  grad(&G::q_rotated, "q rotated", {N, Q});
  grad(&G::k_rotated, "k rotated", {N, KV});
  if (c.qk_norm) {
    grad(&G::q_normed, "q normed", {N, Q});
    grad(&G::k_normed, "k normed", {N, KV});
  }
  grad(&G::attention, "attention", {N, Q});
  if (c.sandwich_norms) grad(&G::branch, "sandwich norm input", {N, C});
  grad(&G::norm_ffn, "ffn norm", {N, C});
  if (dense) {
    grad(&G::gate, "gate", {N, F});
    grad(&G::up, "up", {N, F});
    grad(&G::product, "gated product", {N, F});
  }
  grad(&G::final_norm, "final norm", {N, C});
  model(&Activations::loss, "loss", {1}, f32);
  model(&Activations::grad_scale, "loss gradient scale", {1}, f32);
  if (c.router_loss())
    model(&Activations::moe_aux_stats, "router load statistics", {2, c.moe.experts + 1}, f32);
  return t;
}

uint64_t entry_bytes(const Entry& e) {
  uint64_t n = dtype_size(e.dtype);
  for (int64_t d : e.shape) n *= uint64_t(d);
  return vk::allocated_bytes(n);
}

int64_t moe_layers(const io::ModelConfig& c) {
  int64_t n = 0;
  for (int64_t l = 0; l < c.num_layers; ++l) n += c.moe_layer(l);
  return n;
}

}  // namespace

ops::MoeBlockShape moe_block_shape(const io::ModelConfig& c, int64_t tokens) {
  return {uint64_t(tokens), uint64_t(c.hidden_size), uint64_t(c.moe.intermediate_size),
          uint64_t(c.moe.experts), uint64_t(c.moe.experts_per_token)};
}

uint64_t activation_bytes(const io::ModelConfig& c, DType dtype, int64_t batch, int64_t time,
                          bool recompute, int64_t lora_rank) {
  const uint64_t sets = recompute ? 1 : uint64_t(c.num_layers);
  uint64_t total = 0;
  for (const Entry& e : activation_table(c, dtype, batch, time, lora_rank)) {
    uint64_t copies = e.layer ? (e.saved ? sets : 1)
                              : (e.grad || e.model ? 1 : uint64_t(c.num_layers) + 1);
    total += entry_bytes(e) * copies;
  }
  // The experts' scratch: one forward set per saved MoE layer, one backward set in all.
  if (const int64_t moe = moe_layers(c)) {
    const ops::MoeBlockShape shape = moe_block_shape(c, batch * time);
    const uint64_t forward_sets = recompute ? 1 : uint64_t(moe);
    total += forward_sets * ops::moe_scratch_bytes(shape, dtype, false) +
             ops::moe_scratch_bytes(shape, dtype, true) - ops::moe_scratch_bytes(shape, dtype, false);
  }
  return total;
}

Activations::Activations(vk::Context& ctx, const io::ModelConfig& c, DType dtype, int64_t batch,
                         int64_t time, bool recompute, int64_t lora_rank)
    : batch_(batch), time_(time), recompute_(recompute) {
  const std::vector<Entry> table = activation_table(c, dtype, batch, time, lora_rank);
  const int64_t sets = recompute ? 1 : c.num_layers;
  saved_.resize(size_t(sets));
  for (int64_t l = 0; l < sets; ++l) {
    const std::string at = recompute ? "layer " : "layer " + std::to_string(l) + " ";
    for (const Entry& e : table) {
      if (!e.layer) continue;
      // A tensor no backward reads is made once and viewed by every layer's field.
      saved_[size_t(l)].*e.layer = e.saved || l == 0
          ? make_tensor(ctx, e.dtype, e.shape, at + e.name)
          : view(saved_.front().*e.layer, 0, e.shape, at + e.name);
    }
  }
  if (moe_layers(c) > 0) {
    // The first MoE set has the backward's buffers too; the others view them.
    const ops::MoeBlockShape shape = moe_block_shape(c, batch * time);
    const ops::MoeScratch* full = nullptr;
    for (int64_t l = 0; l < c.num_layers; ++l) {
      if (!c.moe_layer(l) || (recompute && full)) continue;
      ops::MoeScratch& scratch = layer(l).moe;
      scratch = ops::make_moe_scratch(ctx, shape, dtype, full == nullptr);
      if (!full) {
        full = &scratch;
        continue;
      }
      for (size_t slot = size_t(ops::MoeScratchSlot::dweights); slot < scratch.tensors.size(); ++slot)
        scratch.tensors[slot] = view(full->tensors[slot], 0, full->tensors[slot].shape,
                                     full->tensors[slot].name);
    }
  }
  for (const Entry& e : table) {
    if (e.grad) {
      grads.*e.grad = make_tensor(ctx, e.dtype, e.shape, std::string("d ") + e.name);
    } else if (e.model) {
      this->*e.model = make_tensor(ctx, e.dtype, e.shape, e.name);
    } else if (!e.layer) {
      for (int64_t i = 0; i <= c.num_layers; ++i)
        residual.push_back(make_tensor(ctx, e.dtype, e.shape, "residual " + std::to_string(i)));
    }
  }
}

}  // namespace vktrain::model

// One decoder layer's forward and backward (Transformer::layer_forward / layer_backward). The
// shapes and the math of each family are in activations.hpp and DESIGN.md "Architectures";
// the backward retraces the forward in reverse. The first op that produces an activation
// gradient writes it (ops::GradientStore::write: no fill, no read of zeros), later ones add; the
// layers only add into the residual stream's gradient.
#include <optional>

#include "arch/tensor_names.hpp"
#include "model/transformer.hpp"
#include "ops/attention.hpp"
#include "ops/elementwise.hpp"
#include "ops/glu.hpp"
#include "ops/lora.hpp"
#include "ops/moe.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/rope.hpp"
#include "vk/recorder.hpp"

namespace vktrain::model {

namespace {

// t seen with another shape (same elements, same memory).
Tensor reshaped(const Tensor& t, std::vector<int64_t> shape) {
  return view(t, 0, std::move(shape), t.name);
}

Tensor* pointer(std::optional<Tensor>& t) { return t ? &*t : nullptr; }

// The norm before the feed-forward block: Gemma-3's own, else the one after attention (llama's).
const char* ffn_norm_name(const io::ModelConfig& c) {
  return c.sandwich_norms ? arch::hf::kPreFeedforwardNorm : arch::hf::kPostAttentionNorm;
}

uint32_t module_index(const char* module) {
  uint32_t i = 0;
  while (std::string(kLinearModules[i]) != module) ++i;
  return i;
}

}  // namespace

// A projection's tensors for ops::linear_forward/backward, with views of its gradients.
struct Transformer::Projection {
  const Tensor& weight;
  const Tensor* bias = nullptr;
  const Tensor* lora_a = nullptr;
  const Tensor* lora_b = nullptr;
  std::optional<Tensor> d_weight, d_bias, d_lora_a, d_lora_b;
  std::optional<Tensor> hidden;  // the adapter's u kept from the training forward
  ops::LoraSettings settings;
  ops::Linear layer() const { return {weight, bias, lora_a, lora_b}; }
  ops::LinearGradients gradients(Tensor* dx) {
    return {dx, pointer(d_weight), pointer(d_bias), pointer(d_lora_a), pointer(d_lora_b)};
  }
};

Transformer::Projection Transformer::projection(int64_t l, const char* module, uint32_t micro,
                                                bool training, LayerActivations* saved) const {
  const std::string base = layer_name(l, module_path(module));
  Projection p{weight(base + ".weight")};
  auto grad = [&](const Parameter& param, std::optional<Tensor>& out) {
    if (param.trainable) out = params_->grad(param.spec.name);
  };
  grad(params_->at(base + ".weight"), p.d_weight);
  if (const Parameter* bias = params_->find(base + ".bias")) {
    p.bias = &bias->weight;
    grad(*bias, p.d_bias);
  }
  if (const Parameter* a = params_->find(base + ".lora_A.weight")) {
    const Parameter& b = params_->at(base + ".lora_B.weight");
    p.lora_a = &a->weight;
    p.lora_b = &b.weight;
    grad(*a, p.d_lora_a);
    grad(b, p.d_lora_b);
    p.settings.scale = float(setup_.lora.scale());
    if (training && saved && saved->lora_hidden.numel()) {
      const int64_t rows = saved->lora_hidden.shape[1], rank = saved->lora_hidden.shape[2];
      p.hidden = view(saved->lora_hidden, uint64_t(module_index(module) * rows * rank),
                      {rows, rank}, saved->lora_hidden.name);
    }
    if (training && setup_.lora.dropout > 0) {
      uint32_t sites = uint32_t(config_.num_layers) * 8;
      p.settings.dropout = {setup_.lora.dropout,
                            micro * sites + uint32_t(l) * 8 + module_index(module),
                            &dropout_seed_};
    }
  }
  return p;
}

void Transformer::layer_forward(vk::Recorder& rec, Activations& acts, int64_t l,
                                const BatchTensors& batch, bool training, uint32_t micro,
                                bool replay) {
  const io::ModelConfig& c = config_;
  const int64_t B = acts.batch(), T = acts.time(), N = B * T, D = c.head_dim;
  const int64_t Hq = c.num_heads, Hkv = c.num_kv_heads;
  const Tensor& x = acts.residual[size_t(l)];
  Tensor& out = acts.residual[size_t(l + 1)];
  LayerActivations& a = acts.layer(l);
  auto w = [&](const char* suffix) -> const Tensor& { return weight(layer_name(l, suffix)); };
  const auto norm = norm_options();

  ops::rmsnorm_forward(rec, a.norm_in, &a.norm_in_rstd, x, w(arch::hf::kInputNorm), norm);
  for (auto [module, y] : {std::pair{"q_proj", &a.q}, {"k_proj", &a.k}, {"v_proj", &a.v}}) {
    Projection p = projection(l, module, micro, training, &a);
    ops::linear_forward(rec, *y, pointer(p.hidden), a.norm_in, p.layer(), p.settings);
  }
  Tensor q_heads = reshaped(a.q_rotated, {N, Hq, D}), k_heads = reshaped(a.k_rotated, {N, Hkv, D});
  if (c.qk_norm) {
    Tensor q_rows = reshaped(a.q_rotated, {N * Hq, D}), k_rows = reshaped(a.k_rotated, {N * Hkv, D});
    ops::rmsnorm_forward(rec, q_rows, &a.q_rstd, reshaped(a.q, {N * Hq, D}),
                         w(arch::hf::kQNorm), norm);
    ops::rmsnorm_forward(rec, k_rows, &a.k_rstd, reshaped(a.k, {N * Hkv, D}),
                         w(arch::hf::kKNorm), norm);
    ops::rope_forward(rec, q_heads, q_heads, batch.positions, inverse_frequencies(l));
    ops::rope_forward(rec, k_heads, k_heads, batch.positions, inverse_frequencies(l));
  } else {
    ops::rope_forward(rec, q_heads, reshaped(a.q, {N, Hq, D}), batch.positions,
                      inverse_frequencies(l));
    ops::rope_forward(rec, k_heads, reshaped(a.k, {N, Hkv, D}), batch.positions,
                      inverse_frequencies(l));
  }
  Tensor o = reshaped(a.attention, {B, T, Hq, D});
  ops::attention_forward(rec, o, a.lse, reshaped(a.q_rotated, {B, T, Hq, D}),
                         reshaped(a.k_rotated, {B, T, Hkv, D}), reshaped(a.v, {B, T, Hkv, D}),
                         attention_options(l, batch));
  record_layer_tail(rec, a, x, out, l, training, micro,
                    !replay ? moe_aux(acts, batch, l) : ops::MoeAux{});
}

void Transformer::record_projection(vk::Recorder& rec, Tensor& y, const Tensor& x, int64_t l,
                                    const char* module) const {
  Projection p = projection(l, module, 0, false, nullptr);
  ops::linear_forward(rec, y, nullptr, x, p.layer(), p.settings);
}

void Transformer::record_layer_tail(vk::Recorder& rec, LayerActivations& a, const Tensor& x,
                                    Tensor& out, int64_t l, bool training, uint32_t micro,
                                    const ops::MoeAux& aux) const {
  const io::ModelConfig& c = config_;
  auto w = [&](const char* suffix) -> const Tensor& { return weight(layer_name(l, suffix)); };
  const auto norm = norm_options();
  Projection o_proj = projection(l, "o_proj", micro, training, &a);
  ops::linear_forward(rec, a.attention_out, pointer(o_proj.hidden), a.attention, o_proj.layer(),
                      o_proj.settings);
  if (c.sandwich_norms) {
    ops::rmsnorm_forward(rec, a.middle, &a.post_attention_rstd, a.attention_out,
                         w(arch::hf::kPostAttentionNorm), norm);
    ops::add(rec, a.middle, a.middle, x);
  } else {
    ops::add(rec, a.middle, x, a.attention_out);
  }

  const char* ffn_norm = ffn_norm_name(c);
  ops::rmsnorm_forward(rec, a.norm_ffn, &a.norm_ffn_rstd, a.middle, w(ffn_norm), norm);
  if (c.moe_layer(l)) {
    ops::moe_forward(rec, a.ffn_out, a.moe, a.norm_ffn, moe_weights(l),
                     moe_block_shape(c, a.norm_ffn.shape[0]), moe_options(), aux);
  } else {
    for (auto [module, y] : {std::pair{"gate_proj", &a.gate}, {"up_proj", &a.up}}) {
      Projection p = projection(l, module, micro, training, &a);
      ops::linear_forward(rec, *y, pointer(p.hidden), a.norm_ffn, p.layer(), p.settings);
    }
    ops::glu_forward(rec, a.product, a.gate, a.up, activation());
    Projection down = projection(l, "down_proj", micro, training, &a);
    ops::linear_forward(rec, a.ffn_out, pointer(down.hidden), a.product, down.layer(),
                        down.settings);
  }
  if (c.sandwich_norms) {
    ops::rmsnorm_forward(rec, out, &a.post_ffn_rstd, a.ffn_out,
                         w(arch::hf::kPostFeedforwardNorm), norm);
    ops::add(rec, out, out, a.middle);
  } else {
    ops::add(rec, out, a.middle, a.ffn_out);
  }
}

void Transformer::layer_backward(vk::Recorder& rec, Activations& acts, int64_t l,
                                 const BatchTensors& batch, uint32_t micro) {
  const io::ModelConfig& c = config_;
  const int64_t B = acts.batch(), T = acts.time(), N = B * T, D = c.head_dim;
  const int64_t Hq = c.num_heads, Hkv = c.num_kv_heads;
  LayerActivations& a = acts.layer(l);
  ActivationGradients& g = acts.grads;
  auto w = [&](const char* suffix) -> const Tensor& { return weight(layer_name(l, suffix)); };
  auto norm_grad = [&](const char* suffix) {
    std::optional<Tensor> d;
    if (params_->at(layer_name(l, suffix)).trainable) d = params_->grad(layer_name(l, suffix));
    return d;
  };
  const auto norm = norm_options();
  constexpr auto write = ops::GradientStore::write, add = ops::GradientStore::add;
  // A sandwich norm between a branch and the residual: its input's gradient goes to g.branch.
  auto through_post_norm = [&](const char* suffix, const Tensor& input, const Tensor& rstd) {
    auto dw = norm_grad(suffix);
    ops::rmsnorm_backward(rec, g.branch, pointer(dw), g.residual, input, w(suffix), rstd, norm,
                          write);
    return &g.branch;
  };

  // The FFN block: g.residual holds d(out) and becomes d(middle).
  const Tensor* d_ffn_out = c.sandwich_norms
      ? through_post_norm(arch::hf::kPostFeedforwardNorm, a.ffn_out, a.post_ffn_rstd)
      : &g.residual;
  if (c.moe_layer(l)) {
    std::vector<Tensor> grad_views;
    ops::moe_backward(rec, g.norm_ffn, moe_gradients(l, grad_views), a.moe, *d_ffn_out,
                      a.norm_ffn, moe_weights(l), moe_block_shape(c, N), moe_options(),
                      moe_aux(acts, batch, l), write);
  } else {
    Projection down = projection(l, "down_proj", micro, true, &a);
    ops::linear_backward(rec, down.gradients(&g.product), *d_ffn_out, a.product,
                         pointer(down.hidden), down.layer(), down.settings, write);
    ops::glu_backward(rec, g.gate, g.up, g.product, a.gate, a.up, activation(), write);
    // dh2 = gate's dx + up's dx.
    for (auto [module, dy, store] :
         {std::tuple{"gate_proj", &g.gate, write}, {"up_proj", &g.up, add}}) {
      Projection p = projection(l, module, micro, true, &a);
      ops::linear_backward(rec, p.gradients(&g.norm_ffn), *dy, a.norm_ffn, pointer(p.hidden),
                           p.layer(), p.settings, store);
    }
  }
  const char* ffn_norm = ffn_norm_name(c);
  auto d_ffn_norm = norm_grad(ffn_norm);
  ops::rmsnorm_backward(rec, g.residual, pointer(d_ffn_norm), g.norm_ffn, a.middle, w(ffn_norm),
                        a.norm_ffn_rstd, norm, add);

  // The attention block: g.residual becomes d(x).
  const Tensor* d_attention_out =
      c.sandwich_norms
          ? through_post_norm(arch::hf::kPostAttentionNorm, a.attention_out,
                              a.post_attention_rstd)
          : &g.residual;
  Projection o_proj = projection(l, "o_proj", micro, true, &a);
  ops::linear_backward(rec, o_proj.gradients(&g.attention), *d_attention_out, a.attention,
                       pointer(o_proj.hidden), o_proj.layer(), o_proj.settings, write);
  Tensor dq = reshaped(g.q_rotated, {B, T, Hq, D}), dk = reshaped(g.k_rotated, {B, T, Hkv, D});
  Tensor dv = reshaped(g.v, {B, T, Hkv, D});
  auto d_sinks = c.attention_sinks ? norm_grad(arch::hf::kSinks) : std::nullopt;
  ops::attention_backward(rec, dq, dk, dv, reshaped(g.attention, {B, T, Hq, D}),
                          reshaped(a.q_rotated, {B, T, Hq, D}), reshaped(a.k_rotated, {B, T, Hkv, D}),
                          reshaped(a.v, {B, T, Hkv, D}), reshaped(a.attention, {B, T, Hq, D}), a.lse,
                          attention_options(l, batch), write, pointer(d_sinks), add);
  for (auto [heads, d_rot, d_normed, d_proj, proj, rstd, norm_name] :
       {std::tuple{Hq, &g.q_rotated, &g.q_normed, &g.q, &a.q, &a.q_rstd, arch::hf::kQNorm},
        std::tuple{Hkv, &g.k_rotated, &g.k_normed, &g.k, &a.k, &a.k_rstd,
                   arch::hf::kKNorm}}) {
    Tensor rotated = reshaped(*d_rot, {N, heads, D});
    if (c.qk_norm) {
      Tensor normed = reshaped(*d_normed, {N, heads, D});
      ops::rope_backward(rec, normed, rotated, batch.positions, inverse_frequencies(l), write);
      Tensor rows = reshaped(*d_proj, {N * heads, D});
      auto dw = norm_grad(norm_name);
      ops::rmsnorm_backward(rec, rows, pointer(dw), reshaped(*d_normed, {N * heads, D}),
                            reshaped(*proj, {N * heads, D}), w(norm_name), *rstd, norm, write);
    } else {
      Tensor projected = reshaped(*d_proj, {N, heads, D});
      ops::rope_backward(rec, projected, rotated, batch.positions, inverse_frequencies(l), write);
    }
  }
  // dh1 = q's dx + k's dx + v's dx.
  for (auto [module, dy, store] : {std::tuple{"q_proj", &g.q, write}, {"k_proj", &g.k, add},
                                   {"v_proj", &g.v, add}}) {
    Projection p = projection(l, module, micro, true, &a);
    ops::linear_backward(rec, p.gradients(&g.norm_in), *dy, a.norm_in, pointer(p.hidden),
                         p.layer(), p.settings, store);
  }
  auto d_input_norm = norm_grad(arch::hf::kInputNorm);
  ops::rmsnorm_backward(rec, g.residual, pointer(d_input_norm), g.norm_in,
                        acts.residual[size_t(l)], w(arch::hf::kInputNorm), a.norm_in_rstd,
                        norm, add);
}

}  // namespace vktrain::model

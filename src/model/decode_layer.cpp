// The one-token layer of incremental decoding. Its math is Transformer::layer_forward's
// (transformer_layer.cpp; DESIGN.md "Architectures"): only the attention differs, reading the
// cache through ops::attention_decode.
#include "model/decode_layer.hpp"

#include "ops/attention_decode.hpp"
#include "ops/elementwise.hpp"
#include "ops/glu.hpp"
#include "ops/lora.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/rope.hpp"
#include "vk/recorder.hpp"

namespace vktrain::model {

namespace {

Tensor reshaped(const Tensor& t, std::vector<int64_t> shape) {
  return view(t, 0, std::move(shape), t.name);
}

// y = x W^T (+ bias) (+ s x A^T B^T): the projection's parameters as the model holds them.
void project(vk::Recorder& rec, Tensor& y, const Tensor& x, const Transformer& model, int64_t l,
             const char* module) {
  const Parameters& params = model.parameters();
  const std::string base = layer_name(l, module_path(module));
  ops::Linear linear{params.at(base + ".weight").weight};
  ops::LoraSettings settings;
  if (const Parameter* bias = params.find(base + ".bias")) linear.bias = &bias->weight;
  if (const Parameter* a = params.find(base + ".lora_A.weight")) {
    linear.lora_a = &a->weight;
    linear.lora_b = &params.at(base + ".lora_B.weight").weight;
    settings.scale = float(model.setup().lora.scale());
  }
  ops::linear_forward(rec, y, nullptr, x, linear, settings);
}

}  // namespace

void record_decode_layer(vk::Recorder& rec, const Transformer& model, Activations& acts,
                         int64_t l, const Tensor& positions, int64_t position, Tensor& k_cache,
                         Tensor& v_cache) {
  const io::ModelConfig& c = model.config();
  const int64_t D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads, KV = Hkv * D;
  const Tensor& x = acts.residual[size_t(l)];
  Tensor& out = acts.residual[size_t(l + 1)];
  LayerActivations& a = acts.layer(l);
  auto w = [&](const char* suffix) -> const Tensor& {
    return model.parameters().at(layer_name(l, suffix)).weight;
  };
  const auto norm = model.norm_options();
  const Tensor& inv_freq = model.inverse_frequencies(l);

  ops::rmsnorm_forward(rec, a.norm_in, nullptr, x, w("input_layernorm.weight"), norm);
  project(rec, a.q, a.norm_in, model, l, "q_proj");
  project(rec, a.k, a.norm_in, model, l, "k_proj");
  project(rec, a.v, a.norm_in, model, l, "v_proj");
  Tensor q_heads = reshaped(a.q_rotated, {1, Hq, D}), k_heads = reshaped(a.k_rotated, {1, Hkv, D});
  if (c.qk_norm) {
    Tensor q_rows = reshaped(a.q_rotated, {Hq, D}), k_rows = reshaped(a.k_rotated, {Hkv, D});
    ops::rmsnorm_forward(rec, q_rows, nullptr, reshaped(a.q, {Hq, D}),
                         w("self_attn.q_norm.weight"), norm);
    ops::rmsnorm_forward(rec, k_rows, nullptr, reshaped(a.k, {Hkv, D}),
                         w("self_attn.k_norm.weight"), norm);
    ops::rope_forward(rec, q_heads, q_heads, positions, inv_freq);
    ops::rope_forward(rec, k_heads, k_heads, positions, inv_freq);
  } else {
    ops::rope_forward(rec, q_heads, reshaped(a.q, {1, Hq, D}), positions, inv_freq);
    ops::rope_forward(rec, k_heads, reshaped(a.k, {1, Hkv, D}), positions, inv_freq);
  }
  ops::copy_block(rec, k_cache, uint64_t(position * KV), uint64_t(KV), a.k_rotated, 0,
                  uint64_t(KV), 1, uint32_t(KV));
  ops::copy_block(rec, v_cache, uint64_t(position * KV), uint64_t(KV), a.v, 0, uint64_t(KV), 1,
                  uint32_t(KV));
  ops::AttentionDecodeOptions attention{float(c.attention_scale()), 0};
  if (c.sliding_window && c.sliding_layers[size_t(l)]) attention.window = *c.sliding_window;
  Tensor o = reshaped(a.attention, {1, Hq, D});
  ops::attention_decode(rec, o, q_heads, k_cache, v_cache, position + 1, attention);
  project(rec, a.attention_out, a.attention, model, l, "o_proj");
  if (c.sandwich_norms) {
    ops::rmsnorm_forward(rec, a.middle, nullptr, a.attention_out,
                         w("post_attention_layernorm.weight"), norm);
    ops::add(rec, a.middle, a.middle, x);
  } else {
    ops::add(rec, a.middle, x, a.attention_out);
  }

  const char* ffn_norm = c.sandwich_norms ? "pre_feedforward_layernorm.weight"
                                          : "post_attention_layernorm.weight";
  ops::rmsnorm_forward(rec, a.norm_ffn, nullptr, a.middle, w(ffn_norm), norm);
  project(rec, a.gate, a.norm_ffn, model, l, "gate_proj");
  project(rec, a.up, a.norm_ffn, model, l, "up_proj");
  ops::glu_forward(rec, a.product, a.gate, a.up, model.activation());
  project(rec, a.ffn_out, a.product, model, l, "down_proj");
  if (c.sandwich_norms) {
    ops::rmsnorm_forward(rec, out, nullptr, a.ffn_out,
                         w("post_feedforward_layernorm.weight"), norm);
    ops::add(rec, out, out, a.middle);
  } else {
    ops::add(rec, out, a.middle, a.ffn_out);
  }
}

}  // namespace vktrain::model

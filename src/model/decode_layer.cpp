// The one-token layer of incremental decoding. Its math is Transformer::layer_forward's
// (transformer_layer.cpp; DESIGN.md "Architectures"): only the attention differs, reading the
// cache through ops::attention_decode.
#include "model/decode_layer.hpp"

#include "arch/tensor_names.hpp"
#include "model/rope_frequencies.hpp"
#include "ops/attention_decode.hpp"
#include "ops/elementwise.hpp"
#include "ops/rmsnorm.hpp"
#include "ops/rope.hpp"
#include "vk/recorder.hpp"

namespace vktrain::model {

namespace {

Tensor reshaped(const Tensor& t, std::vector<int64_t> shape) {
  return view(t, 0, std::move(shape), t.name);
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

  ops::rmsnorm_forward(rec, a.norm_in, nullptr, x, w(arch::hf::kInputNorm), norm);
  model.record_projection(rec, a.q, a.norm_in, l, "q_proj");
  model.record_projection(rec, a.k, a.norm_in, l, "k_proj");
  model.record_projection(rec, a.v, a.norm_in, l, "v_proj");
  Tensor q_heads = reshaped(a.q_rotated, {1, Hq, D}), k_heads = reshaped(a.k_rotated, {1, Hkv, D});
  if (c.qk_norm) {
    Tensor q_rows = reshaped(a.q_rotated, {Hq, D}), k_rows = reshaped(a.k_rotated, {Hkv, D});
    ops::rmsnorm_forward(rec, q_rows, nullptr, reshaped(a.q, {Hq, D}),
                         w(arch::hf::kQNorm), norm);
    ops::rmsnorm_forward(rec, k_rows, nullptr, reshaped(a.k, {Hkv, D}),
                         w(arch::hf::kKNorm), norm);
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
  ops::AttentionDecodeOptions attention{float(layer_attention_scale(c, l)), 0};
  if (c.sliding_window && c.sliding_layers[size_t(l)]) attention.window = *c.sliding_window;
  if (c.attention_sinks) attention.sinks = &w(arch::hf::kSinks);
  Tensor o = reshaped(a.attention, {1, Hq, D});
  ops::attention_decode(rec, o, q_heads, k_cache, v_cache, position + 1, attention);
  model.record_layer_tail(rec, a, x, out, l, false, 0);
}

}  // namespace vktrain::model

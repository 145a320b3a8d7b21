#include "reference/model_layer.hpp"

#include "base/error.hpp"
#include "model/layout.hpp"
#include "model/rope_frequencies.hpp"
#include "reference/glu.hpp"
#include "reference/lora.hpp"
#include "reference/model_moe.hpp"
#include "reference/rmsnorm.hpp"
#include "reference/rope.hpp"

namespace vktrain::reference {
namespace {

using model::layer_name;

void add_into(std::vector<double>& to, const std::vector<double>& from) {
  if (to.empty()) to.assign(from.size(), 0.0);
  for (size_t i = 0; i < from.size(); ++i) to[i] += from[i];
}

std::vector<float> add(const std::vector<float>& x, const std::vector<float>& y) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] + y[i];
  return out;
}

// RMSNorm over rows of `cols` with weight `name` (the config's eps and offset).
std::vector<float> norm(const ModelInputs& in, const std::string& name, const std::vector<float>& x,
                        size_t cols) {
  std::vector<double> y, rstd;
  rmsnorm_forward(y, rstd, x, in.weight(name), cols, in.config.rms_norm_eps, in.norm_offset());
  return to_f32(y);
}

// residual + d loss / d x of that norm; its weight's gradient goes into grads.
std::vector<float> norm_backward(ModelGradients& grads, const ModelInputs& in,
                                 const std::string& name, const std::vector<float>& dy,
                                 const std::vector<float>& x, size_t cols,
                                 const std::vector<float>& residual = {}) {
  std::vector<double> dx(residual.begin(), residual.end());
  rmsnorm_backward(dx, grads.at(name), dy, x, in.weight(name), cols, in.config.rms_norm_eps,
                   in.norm_offset());
  return to_f32(dx);
}

// One linear layer of the model with its optional bias and LoRA adapter.
struct Projection {
  std::string path;  // "model.layers.0.self_attn.q_proj"
  LinearValues values;
  LinearShape shape;
};

Projection projection(const ModelInputs& in, int64_t layer, const char* module) {
  auto [out, inputs] = model::projection_shape(in.config, module);
  Projection p{layer_name(layer, model::module_path(module)), {}, {}};
  p.values.weight = in.weight(p.path + ".weight");
  if (auto bias = in.weights.find(p.path + ".bias"); bias != in.weights.end())
    p.values.bias = bias->second;
  size_t rank = 0;
  if (auto a = in.weights.find(p.path + ".lora_A.weight"); a != in.weights.end()) {
    p.values.lora_a = a->second;
    p.values.lora_b = in.weight(p.path + ".lora_B.weight");
    rank = a->second.size() / size_t(inputs);
  }
  p.shape = {in.tokens(), size_t(inputs), size_t(out), rank};
  return p;
}

std::vector<float> project(const ModelInputs& in, int64_t layer, const char* module,
                           const std::vector<float>& x) {
  Projection p = projection(in, layer, module);
  std::vector<double> y, lora_hidden;
  linear_forward(y, lora_hidden, x, p.values, p.shape, LoraSettings{in.lora_scale});
  return to_f32(y);
}

// Adds d loss / d x into dx and the projection's parameter gradients into grads.
void project_backward(ModelGradients& grads, std::vector<double>& dx, const ModelInputs& in,
                      int64_t layer, const char* module, const std::vector<float>& dy,
                      const std::vector<float>& x) {
  Projection p = projection(in, layer, module);
  LinearGradients g;
  linear_backward(g, dy, x, p.values, p.shape, LoraSettings{in.lora_scale});
  add_into(grads.at(p.path + ".weight"), g.weight);
  if (!p.values.bias.empty()) add_into(grads.at(p.path + ".bias"), g.bias);
  if (p.shape.rank) {
    add_into(grads.at(p.path + ".lora_A.weight"), g.lora_a);
    add_into(grads.at(p.path + ".lora_B.weight"), g.lora_b);
  }
  add_into(dx, g.x);
}

// The norm in front of the MLP: Gemma-3 has its own; the others reuse post_attention_layernorm.
std::string mlp_norm(const io::ModelConfig& c, int64_t layer) {
  return layer_name(layer, c.sandwich_norms ? "pre_feedforward_layernorm.weight"
                                            : "post_attention_layernorm.weight");
}

// Gemma-3's norm `suffix` on the output of a branch (post-attention, post-feedforward); the
// other families add the branch to the residual as it is.
std::vector<float> branch_norm(const ModelInputs& in, int64_t layer, const char* suffix,
                               const std::vector<float>& x) {
  if (!in.config.sandwich_norms) return x;
  return norm(in, layer_name(layer, suffix), x, size_t(in.config.hidden_size));
}

std::vector<float> branch_norm_backward(ModelGradients& grads, const ModelInputs& in,
                                        int64_t layer, const char* suffix,
                                        const std::vector<float>& dy, const std::vector<float>& x) {
  if (!in.config.sandwich_norms) return dy;
  return norm_backward(grads, in, layer_name(layer, suffix), dy, x, size_t(in.config.hidden_size));
}

AttentionShape attention_shape(const ModelInputs& in, int64_t layer) {
  const io::ModelConfig& c = in.config;
  AttentionShape s{uint32_t(in.batch.batch), uint32_t(in.batch.time), uint32_t(c.num_heads),
                   uint32_t(c.num_kv_heads), uint32_t(c.head_dim)};
  s.window = c.sliding_layers[size_t(layer)] ? *c.sliding_window : 0;
  s.scale = model::layer_attention_scale(c, layer);
  s.documents = in.batch.documents;
  if (c.attention_sinks) s.sinks = in.weight(layer_name(layer, kSinks));
  return s;
}

// The q/k norm (Qwen3, Gemma-3) over each head's D values, then RoPE.
std::vector<float> position_encode(const ModelInputs& in, const std::string& norm_name,
                                   const std::vector<float>& x, const LayerActivations& saved,
                                   uint32_t heads) {
  const std::vector<float> normed =
      in.config.qk_norm ? norm(in, norm_name, x, size_t(in.config.head_dim)) : x;
  std::vector<double> y;
  rope_forward(y, normed, in.batch.positions, saved.inv_freq, heads);
  return to_f32(y);
}

// d loss / d x of position_encode for the gradient dy of its output.
std::vector<float> position_encode_backward(ModelGradients& grads, const ModelInputs& in,
                                            const std::string& norm_name,
                                            const std::vector<double>& dy,
                                            const std::vector<float>& x,
                                            const LayerActivations& saved, uint32_t heads) {
  std::vector<double> dnormed;
  rope_backward(dnormed, to_f32(dy), in.batch.positions, saved.inv_freq, heads);
  if (!in.config.qk_norm) return to_f32(dnormed);
  return norm_backward(grads, in, norm_name, to_f32(dnormed), x, size_t(in.config.head_dim));
}

}  // namespace

const std::vector<float>& ModelInputs::weight(const std::string& name) const {
  auto found = weights.find(name);
  if (found == weights.end()) fail("[reference/model] missing weight '{}'", name);
  return found->second;
}

std::vector<float> to_f32(const std::vector<double>& x) { return {x.begin(), x.end()}; }

std::vector<float> layer_forward(LayerActivations& saved, const ModelInputs& in, int64_t layer,
                                 const std::vector<float>& x) {
  const io::ModelConfig& c = in.config;
  const size_t C = size_t(c.hidden_size);
  saved.x = x;
  saved.inv_freq = model::layer_inverse_frequencies(c, layer);
  saved.shape = attention_shape(in, layer);

  saved.norm1 = norm(in, layer_name(layer, "input_layernorm.weight"), x, C);
  saved.q = project(in, layer, "q_proj", saved.norm1);
  saved.k = project(in, layer, "k_proj", saved.norm1);
  saved.v = project(in, layer, "v_proj", saved.norm1);
  saved.q_rot = position_encode(in, layer_name(layer, "self_attn.q_norm.weight"), saved.q, saved,
                                saved.shape.Hq);
  saved.k_rot = position_encode(in, layer_name(layer, "self_attn.k_norm.weight"), saved.k, saved,
                                saved.shape.Hkv);
  std::vector<double> attention, lse;
  attention_forward(attention, lse, saved.q_rot, saved.k_rot, saved.v, saved.shape);
  saved.attention = to_f32(attention);
  saved.o = project(in, layer, "o_proj", saved.attention);
  saved.h = add(x, branch_norm(in, layer, "post_attention_layernorm.weight", saved.o));

  saved.norm2 = norm(in, mlp_norm(c, layer), saved.h, C);
  if (c.moe_layer(layer)) {
    saved.down = moe_layer_forward(saved, in, layer, saved.norm2);
  } else {
    saved.gate = project(in, layer, "gate_proj", saved.norm2);
    saved.up = project(in, layer, "up_proj", saved.norm2);
    std::vector<double> glu;
    glu_forward(glu, saved.gate, saved.up, in.activation());
    saved.glu = to_f32(glu);
    saved.down = project(in, layer, "down_proj", saved.glu);
  }
  return add(saved.h, branch_norm(in, layer, "post_feedforward_layernorm.weight", saved.down));
}

std::vector<float> layer_backward(ModelGradients& grads, const ModelInputs& in, int64_t layer,
                                  const LayerActivations& saved, const std::vector<float>& dout,
                                  const std::vector<double>& router_dlogits) {
  const io::ModelConfig& c = in.config;
  const size_t C = size_t(c.hidden_size);

  // MLP branch: out = h + [post_feedforward_layernorm](down(glu(gate(n2), up(n2)))), or
  // out = h + moe(n2).
  const std::vector<float> ddown =
      branch_norm_backward(grads, in, layer, "post_feedforward_layernorm.weight", dout, saved.down);
  std::vector<double> dnorm2;
  if (c.moe_layer(layer)) {
    dnorm2 = moe_layer_backward(grads, in, layer, saved.norm2, ddown, router_dlogits);
  } else {
    std::vector<double> dglu;
    project_backward(grads, dglu, in, layer, "down_proj", ddown, saved.glu);
    std::vector<double> dgate(saved.gate.size(), 0.0), dup(saved.up.size(), 0.0);
    glu_backward(dgate, dup, to_f32(dglu), saved.gate, saved.up, in.activation());
    project_backward(grads, dnorm2, in, layer, "gate_proj", to_f32(dgate), saved.norm2);
    project_backward(grads, dnorm2, in, layer, "up_proj", to_f32(dup), saved.norm2);
  }
  const std::vector<float> dh =
      norm_backward(grads, in, mlp_norm(c, layer), to_f32(dnorm2), saved.h, C, dout);

  // Attention branch: h = x + [post_attention_layernorm](o(attention(...))).
  const std::vector<float> do_proj =
      branch_norm_backward(grads, in, layer, "post_attention_layernorm.weight", dh, saved.o);
  std::vector<double> dattention;
  project_backward(grads, dattention, in, layer, "o_proj", do_proj, saved.attention);
  std::vector<double> dq_rot, dk_rot, dv, dsinks;
  attention_backward(dq_rot, dk_rot, dv, dsinks, to_f32(dattention), saved.q_rot, saved.k_rot,
                     saved.v, saved.shape);
  if (c.attention_sinks) add_into(grads.at(layer_name(layer, kSinks)), dsinks);
  const std::vector<float> dq =
      position_encode_backward(grads, in, layer_name(layer, "self_attn.q_norm.weight"), dq_rot,
                               saved.q, saved, saved.shape.Hq);
  const std::vector<float> dk =
      position_encode_backward(grads, in, layer_name(layer, "self_attn.k_norm.weight"), dk_rot,
                               saved.k, saved, saved.shape.Hkv);
  std::vector<double> dnorm1;
  project_backward(grads, dnorm1, in, layer, "q_proj", dq, saved.norm1);
  project_backward(grads, dnorm1, in, layer, "k_proj", dk, saved.norm1);
  project_backward(grads, dnorm1, in, layer, "v_proj", to_f32(dv), saved.norm1);
  return norm_backward(grads, in, layer_name(layer, "input_layernorm.weight"), to_f32(dnorm1),
                       saved.x, C, dh);
}

}  // namespace vktrain::reference

#include "model/transformer.hpp"

#include <cmath>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "base/error.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/embedding.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_aux.hpp"
#include "ops/rmsnorm.hpp"
#include "model/rope_frequencies.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::model {

namespace {

Tensor frequencies(vk::Context& ctx, const io::ModelConfig& c, int64_t layer, const char* name) {
  std::vector<float> f = layer_inverse_frequencies(c, layer);
  Tensor t = make_tensor(ctx, DType::f32, {int64_t(f.size())}, name);
  write_floats(ctx, t, f);
  return t;
}

}  // namespace

void check_model_setup(const ModelSetup& setup) {
  if (setup.full && setup.lora.rank > 0)
    fail("[model] choose LoRA or full fine-tuning, not both");
  if (!dtype_is_float(setup.dtype)) fail("[model] --dtype must be f32, f16 or bf16");
  if (setup.full && !setup.quantized.empty())
    fail("[model] full fine-tuning needs a 16- or 32-bit base, and this one is quantized ({} "
         "of its matrices, e.g. {} as {}): train a LoRA adapter on it (QLoRA), or load the "
         "Hugging Face model without --quantize",
         setup.quantized.size(), setup.quantized.begin()->first,
         dtype_name(setup.quantized.begin()->second));
}

Transformer::Transformer(vk::Context& context, const io::ModelConfig& config,
                         const ModelSetup& setup)
    : context_(context), config_(config), setup_(setup) {
  check_model_setup(setup);
  std::vector<ParameterSpec> specs = base_parameters(config);
  for (auto& spec : lora_parameters(config, setup.lora)) specs.push_back(std::move(spec));
  params_ = std::make_unique<Parameters>(
      context, specs, setup.dtype,
      [&](const ParameterSpec& spec) { return setup.full || is_lora_parameter(spec.name); },
      setup.quantized, setup.master_shard, setup.master_shards);
  // Two tables at most: the global one, and Gemma-3's local one.
  for (int64_t l = 0; l < config.num_layers; ++l) {
    Tensor& table = uses_local_rope(config, l) ? inv_freq_local_ : inv_freq_global_;
    if (table.memory.empty()) table = frequencies(context, config, l, "rope inverse frequencies");
  }
  dropout_seed_ = make_tensor(context, DType::i32, {1}, "dropout seed");
  const int32_t zero = 0;
  write_ints(context, dropout_seed_, std::span(&zero, 1));
}

bool Transformer::embedding_trains() const {
  return params_->at(arch::hf::kEmbedTokens).trainable;
}

const Tensor& Transformer::lm_head() const {
  return weight(config_.tie_word_embeddings ? arch::hf::kEmbedTokens : arch::hf::kLmHead);
}

const Tensor& Transformer::inverse_frequencies(int64_t layer) const {
  return uses_local_rope(config_, layer) ? inv_freq_local_ : inv_freq_global_;
}

ops::AttentionOptions Transformer::attention_options(int64_t layer,
                                                     const BatchTensors& batch) const {
  ops::AttentionOptions options;
  options.causal = true;
  if (config_.sliding_window && config_.sliding_layers[size_t(layer)])
    options.window = *config_.sliding_window;
  options.scale = float(layer_attention_scale(config_, layer));
  options.documents = &batch.documents;
  if (config_.attention_sinks) options.sinks = &weight(layer_name(layer, arch::hf::kSinks));
  return options;
}

ops::RmsnormOptions Transformer::norm_options() const {
  return {float(config_.rms_norm_eps), config_.norm_plus_one ? 1.0f : 0.0f};
}

ops::GluActivation Transformer::activation() const {
  if (config_.activation == "silu") return ops::GluActivation::silu;
  if (config_.activation == "gelu_pytorch_tanh" || config_.activation == "gelu_tanh")
    return ops::GluActivation::gelu_tanh;
  fail("[model] activation '{}' is not supported (silu, gelu_pytorch_tanh)", config_.activation);
}

BatchTensors Transformer::make_batch(int64_t batch, int64_t time) const {
  auto ints = [&](const char* name) {
    return make_tensor(context_, DType::i32, {batch, time}, name);
  };
  BatchTensors b{ints("token ids"), ints("targets"), ints("positions"), ints("document ids"), {}, {}};
  if (embedding_trains())
    b.order = make_tensor(context_, DType::i32, {batch * time}, "tokens by id");
  if (config_.router_loss())
    b.token_mask = make_tensor(context_, DType::i32, {batch * time}, "router loss token mask");
  return b;
}

float Transformer::embedding_scale() const {
  return config_.embed_scale ? float(std::sqrt(double(config_.hidden_size))) : 1.0f;
}

ops::MoeBlockWeights Transformer::moe_weights(int64_t l) const {
  const arch::MoeNames& names = arch::describe(config_.family).experts;
  auto optional = [&](std::string_view suffix) -> const Tensor* {
    const Parameter* p = params_->find(layer_name(l, std::string(suffix)));
    return p ? &p->weight : nullptr;
  };
  ops::MoeBlockWeights w{.router = &weight(layer_name(l, std::string(names.device_router))),
                         .router_bias = optional(names.router_bias),
                         .gate_up = &weight(layer_name(l, arch::hf::kExpertsGateUp)),
                         .down = &weight(layer_name(l, arch::hf::kExpertsDown)),
                         .gate_up_bias = optional(arch::hf::kExpertsGateUpBias),
                         .down_bias = optional(arch::hf::kExpertsDownBias)};
  for (auto [target, lora] : {std::pair{io::kExpertTargets[0], &w.gate_up_lora},
                              std::pair{io::kExpertTargets[1], &w.down_lora}}) {
    const std::string base = expert_adapter_path(l, target, setup_.lora);
    if (!targets_expert(setup_.lora, target) || !params_->find(base + ".lora_A.weight")) continue;
    *lora = {&weight(base + ".lora_A.weight"), &weight(base + ".lora_B.weight"),
             float(setup_.lora.scale())};
  }
  return w;
}

ops::MoeBlockGradients Transformer::moe_gradients(int64_t l, std::vector<Tensor>& views) const {
  // Views of the gradient arena, kept in `views` while the pointers are used.
  views.reserve(10);
  auto grad = [&](const std::string& name) -> Tensor* {
    const Parameter* p = params_->find(name);
    if (!p || !p->trainable) return nullptr;
    views.push_back(params_->grad(name));
    return &views.back();
  };
  const arch::MoeNames& names = arch::describe(config_.family).experts;
  ops::MoeBlockGradients g{.router = grad(layer_name(l, std::string(names.device_router))),
                           .router_bias = grad(layer_name(l, std::string(names.router_bias))),
                           .gate_up = grad(layer_name(l, arch::hf::kExpertsGateUp)),
                           .down = grad(layer_name(l, arch::hf::kExpertsDown)),
                           .gate_up_bias = grad(layer_name(l, arch::hf::kExpertsGateUpBias)),
                           .down_bias = grad(layer_name(l, arch::hf::kExpertsDownBias))};
  for (auto [target, lora] : {std::pair{io::kExpertTargets[0], &g.gate_up_lora},
                              std::pair{io::kExpertTargets[1], &g.down_lora}}) {
    if (!targets_expert(setup_.lora, target)) continue;
    const std::string base = expert_adapter_path(l, target, setup_.lora);
    *lora = {grad(base + ".lora_A.weight"), grad(base + ".lora_B.weight")};
  }
  return g;
}

ops::MoeBlockOptions Transformer::moe_options() const {
  ops::MoeBlockOptions options;
  const bool topk_first = arch::describe(config_.family).experts.softmax_after_topk;
  options.router = {topk_first ? ops::MoeRouting::topk_softmax : ops::MoeRouting::softmax_topk,
                    config_.moe.normalize_topk};
  options.activation = activation();
  options.clamped_swiglu = config_.moe.swiglu_limit > 0;
  options.clamp = {float(config_.moe.swiglu_alpha), float(config_.moe.swiglu_limit)};
  return options;
}

ops::MoeAux Transformer::moe_aux(Activations& acts, const BatchTensors& batch, int64_t l) const {
  if (acts.moe_aux_stats.memory.empty() || !config_.moe_layer(l)) return {};
  int64_t first = 0;
  while (!config_.moe_layer(first)) ++first;
  return {&acts.moe_aux_stats, l == first, float(config_.moe.aux_loss_coef) * acts.moe_aux_weight,
          &batch.token_mask};
}

void Transformer::record_forward(vk::Recorder& rec, Activations& acts, const BatchTensors& batch,
                                 bool training, uint32_t micro) {
  ops::embedding_forward(rec, acts.residual[0], batch.ids, weight(arch::hf::kEmbedTokens),
                         embedding_scale());
  for (int64_t l = 0; l < config_.num_layers; ++l)
    layer_forward(rec, acts, l, batch, training, micro);
  ops::rmsnorm_forward(rec, acts.final_norm, &acts.final_norm_rstd,
                       acts.residual[size_t(config_.num_layers)], weight(arch::hf::kFinalNorm),
                       norm_options());
}

void Transformer::record_backward(vk::Recorder& rec, Activations& acts, const BatchTensors& batch,
                                  uint32_t micro, const LayerDone& after_layer) {
  auto& g = acts.grads;
  const std::string head = config_.tie_word_embeddings ? arch::hf::kEmbedTokens
                                                       : arch::hf::kLmHead;
  std::optional<Tensor> head_grad;
  if (params_->at(head).trainable) head_grad = params_->grad(head);
  // The first producers of g.final_norm and g.residual write them; the layers add into g.residual.
  ops::cross_entropy_loss_and_grad(rec, acts.loss, g.final_norm, head_grad ? &*head_grad : nullptr,
                                   acts.final_norm, lm_head(), batch.targets, acts.grad_scale, {},
                                   ops::GradientStore::write);
  std::optional<Tensor> norm_grad;
  if (params_->at(arch::hf::kFinalNorm).trainable) norm_grad = params_->grad(arch::hf::kFinalNorm);
  ops::rmsnorm_backward(rec, g.residual, norm_grad ? &*norm_grad : nullptr, g.final_norm,
                        acts.residual[size_t(config_.num_layers)], weight(arch::hf::kFinalNorm),
                        acts.final_norm_rstd, norm_options(), ops::GradientStore::write);
  // The routers' load-balancing loss, from the statistics the forward gathered, joins the loss
  // (Qwen3MoeForCausalLM's loss + router_aux_loss_coef * aux_loss): acts.loss is summed over
  // targets and multiplied by grad_scale / the loss scale later, so the term comes in over
  // grad_scale, its weight carrying that loss scale. Its gradient joins each MoE layer's backward.
  if (!acts.moe_aux_stats.memory.empty())
    ops::moe_aux_loss(rec, acts.loss, acts.moe_aux_stats,
                      float(config_.moe.aux_loss_coef) * acts.moe_aux_weight, &acts.grad_scale,
                      ops::GradientStore::add);
  vk::Recorder* current = &rec;
  for (int64_t l = config_.num_layers - 1; l >= 0; --l) {
    if (acts.recompute()) layer_forward(*current, acts, l, batch, true, micro, true);
    layer_backward(*current, acts, l, batch, micro);
    if (after_layer) current = after_layer(l);
  }
  if (embedding_trains()) {
    Tensor table_grad = params_->grad(arch::hf::kEmbedTokens);
    ops::embedding_backward(*current, table_grad, g.residual, batch.ids, batch.order,
                            embedding_scale());
  }
}

void Transformer::record_loss(vk::Recorder& rec, Activations& acts, const BatchTensors& batch) {
  ops::cross_entropy_loss(rec, acts.loss, acts.final_norm, lm_head(), batch.targets);
  if (acts.moe_aux_stats.memory.empty()) return;
  // The batch's router loss times its targets, so that the sum over targets (and batches)
  // divided by the targets is the mean cross-entropy plus the router loss, as transformers
  // reports one batch's loss. grad_scale is free here: a training step writes its own.
  ops::cross_entropy_grad_scale(rec, acts.grad_scale, {&batch.targets});
  ops::moe_aux_loss(rec, acts.loss, acts.moe_aux_stats, float(config_.moe.aux_loss_coef),
                    &acts.grad_scale, ops::GradientStore::add);
}

void Transformer::record_logits(vk::Recorder& rec, Tensor& logits, const Activations& acts) {
  ops::matmul(rec, logits, acts.final_norm, lm_head(), {.trans_b = true});
}

}  // namespace vktrain::model

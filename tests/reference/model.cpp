#include "reference/model.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "base/error.hpp"
#include "model/layout.hpp"
#include "reference/cross_entropy.hpp"
#include "reference/embedding.hpp"
#include "reference/model_layer.hpp"
#include "reference/model_moe.hpp"
#include "reference/moe.hpp"
#include "reference/reference.hpp"
#include "reference/rmsnorm.hpp"

namespace vktrain::reference {
namespace {

void check_size(const ModelWeights& weights, const std::string& name, size_t want) {
  size_t got = weights.at(name).size();
  if (got != want)
    fail("[reference/model] weight '{}' has {} elements, the config needs {}", name, got, want);
}

// Every base parameter of the config with its size; the rest must be LoRA pairs [R, in], [out, R].
void check_weights(const io::ModelConfig& config, const ModelWeights& weights) {
  std::set<std::string> known;
  for (const model::ParameterSpec& spec : reference_parameters(config)) {
    if (!weights.contains(spec.name)) fail("[reference/model] missing weight '{}'", spec.name);
    check_size(weights, spec.name, size_t(spec.elements()));
    known.insert(spec.name);
  }
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (const char* module : model::kLinearModules) {
      std::string path = model::layer_name(layer, model::module_path(module));
      std::string a = path + ".lora_A.weight", b = path + ".lora_B.weight";
      if (!weights.contains(a) && !weights.contains(b)) continue;
      if (!weights.contains(a) || !weights.contains(b))
        fail("[reference/model] '{}' has only one of lora_A and lora_B", path);
      auto [out, in] = model::projection_shape(config, module);
      size_t rank = weights.at(a).size() / size_t(in);
      if (rank == 0) fail("[reference/model] weight '{}' is empty", a);
      check_size(weights, a, rank * size_t(in));
      check_size(weights, b, size_t(out) * rank);
      known.insert({a, b});
    }
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (const ExpertAdapter& adapter : expert_adapters(config, weights, layer)) {
      std::string a = adapter.path + ".lora_A.weight", b = adapter.path + ".lora_B.weight";
      if (adapter.rank == 0)
        fail("[reference/model] '{}' and '{}' ({} and {} elements) adapt neither expert weight",
             a, b, weights.at(a).size(), weights.contains(b) ? weights.at(b).size() : 0);
      known.insert({a, b});
    }
  for (const auto& entry : weights)
    if (!known.contains(entry.first))
      fail("[reference/model] weight '{}' is not a parameter of this {} config", entry.first,
           io::family_name(config.family));
}

// Returns how many targets count toward the loss.
size_t check_batch(const io::ModelConfig& config, const ModelBatch& batch) {
  const size_t tokens = size_t(batch.batch * batch.time);
  if (batch.batch <= 0 || batch.time <= 0)
    fail("[reference/model] batch is {} x {} tokens", batch.batch, batch.time);
  for (auto [values, name] : {std::pair{&batch.ids, "ids"}, {&batch.targets, "targets"},
                              {&batch.positions, "positions"}})
    if (values->size() != tokens)
      fail("[reference/model] {} has {} entries for {} x {} tokens", name, values->size(),
           batch.batch, batch.time);
  if (!batch.documents.empty() && batch.documents.size() != tokens)
    fail("[reference/model] documents has {} entries for {} tokens", batch.documents.size(), tokens);
  size_t counted = 0;
  for (size_t t = 0; t < tokens; ++t) {
    if (batch.ids[t] < 0 || batch.ids[t] >= config.vocab_size)
      fail("[reference/model] ids[{}] = {} is outside the vocabulary of {}", t, batch.ids[t],
           config.vocab_size);
    if (batch.targets[t] >= config.vocab_size)
      fail("[reference/model] targets[{}] = {} is outside the vocabulary of {}", t,
           batch.targets[t], config.vocab_size);
    counted += batch.targets[t] >= 0;
  }
  if (counted == 0) fail("[reference/model] no target is >= 0: the loss is undefined");
  return counted;
}

void check_expert_ids(const io::ModelConfig& config, const ExpertChoices& expert_ids,
                      size_t tokens) {
  if (expert_ids.empty()) return;
  size_t layers = 0;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) layers += config.moe_layer(layer);
  if (expert_ids.size() != layers)
    fail("[reference/model] expert_ids holds {} layers' choices; the model has {} MoE layers",
         expert_ids.size(), layers);
  for (const std::vector<int32_t>& ids : expert_ids) {
    if (ids.size() != tokens * size_t(config.moe.experts_per_token))
      fail("[reference/model] expert_ids has {} choices for {} tokens of {}", ids.size(), tokens,
           config.moe.experts_per_token);
    for (int32_t e : ids)
      if (e < 0 || e >= config.moe.experts)
        fail("[reference/model] expert_ids names expert {} of {}", e, config.moe.experts);
  }
}

// transformers' load_balancing_loss_func over the router logits of every MoE layer, times
// router_aux_loss_coef, with the attention mask the device derives from the documents (0 for a
// token of document < 0, padding); nothing where the config leaves the loss out.
struct RouterLoss {
  const io::ModelConfig& config;
  std::vector<std::vector<float>> logits;
  std::vector<std::vector<int32_t>> ids;
  std::vector<int64_t> layers;  // which layer each of logits and ids is
  std::vector<int32_t> mask;
  size_t tokens = 0;

  size_t E() const { return size_t(config.moe.experts); }
  size_t k() const { return size_t(config.moe.experts_per_token); }
  double value() const {
    if (layers.empty()) return 0.0;
    return moe_aux_loss(logits, ids, tokens, E(), k(), config.moe.aux_loss_coef, mask);
  }
  // d value / d layer `layer`'s logits [N, E], or empty.
  std::vector<double> gradient(int64_t layer) const {
    auto at = std::ranges::find(layers, layer);
    if (at == layers.end()) return {};
    std::vector<double> dlogits(tokens * E(), 0.0);
    moe_aux_loss_backward(dlogits, logits, ids, size_t(at - layers.begin()), tokens, E(), k(),
                          config.moe.aux_loss_coef, mask);
    return dlogits;
  }
};

RouterLoss router_loss_of(const io::ModelConfig& config, const ModelBatch& batch,
                          const std::vector<LayerActivations>& saved) {
  RouterLoss loss{config, {}, {}, {}, {}, size_t(batch.batch * batch.time)};
  if (!config.router_loss()) return loss;
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    if (config.moe_layer(layer)) {
      loss.logits.push_back(saved[size_t(layer)].router_logits);
      loss.ids.push_back(saved[size_t(layer)].expert_ids);
      loss.layers.push_back(layer);
    }
  for (int32_t document : batch.documents) loss.mask.push_back(document >= 0 ? 1 : 0);
  return loss;
}

}  // namespace

ModelResult model_reference(const io::ModelConfig& config, const ModelWeights& weights,
                            const ModelBatch& batch, double lora_scale,
                            const ExpertChoices& expert_ids) {
  check_weights(config, weights);
  const size_t counted = check_batch(config, batch);
  check_expert_ids(config, expert_ids, size_t(batch.batch * batch.time));
  const ModelInputs in{config, weights, batch, lora_scale, expert_ids};
  const size_t N = in.tokens(), C = size_t(config.hidden_size), V = size_t(config.vocab_size);
  const std::string embed = "model.embed_tokens.weight", final_norm = "model.norm.weight";
  const std::string head = config.tie_word_embeddings ? embed : "lm_head.weight";
  // Gemma multiplies by sqrt(C) rounded to the activation dtype, f32 here.
  const double embed_scale = config.embed_scale ? double(float(std::sqrt(double(C)))) : 1.0;

  ModelResult result;
  for (const auto& [name, w] : weights) result.grads[name].assign(w.size(), 0.0);

  std::vector<double> out, rstd;
  embedding_forward(out, batch.ids, in.weight(embed), C, embed_scale);
  std::vector<float> x = to_f32(out);
  std::vector<LayerActivations> saved(size_t(config.num_layers));
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    x = layer_forward(saved[size_t(layer)], in, layer, x);
    if (config.moe_layer(layer)) result.expert_ids.push_back(saved[size_t(layer)].expert_ids);
  }
  const RouterLoss router_loss = router_loss_of(config, batch, saved);
  result.aux_loss = router_loss.value();
  rmsnorm_forward(out, rstd, x, in.weight(final_norm), C, config.rms_norm_eps, in.norm_offset());
  const std::vector<float> hidden = to_f32(out);  // [N, C]
  matmul(out, hidden, in.weight(head),
         MatmulShape{.m = uint32_t(N), .n = uint32_t(V), .k = uint32_t(C), .trans_b = true});
  result.logits = to_f32(out);

  // The loss is the mean over counted targets, so each token's gradient is scaled by 1 / count.
  std::vector<double> losses, dhidden(N * C, 0.0);
  cross_entropy(losses, &dhidden, &result.grads.at(head), hidden, in.weight(head), batch.targets,
                C, 1.0 / double(counted));
  for (double loss : losses) result.loss += loss;
  result.loss = result.loss / double(counted) + result.aux_loss;

  std::vector<double> dx;
  rmsnorm_backward(dx, result.grads.at(final_norm), to_f32(dhidden), x, in.weight(final_norm), C,
                   config.rms_norm_eps, in.norm_offset());
  std::vector<float> dy = to_f32(dx);
  for (int64_t layer = config.num_layers - 1; layer >= 0; --layer)
    dy = layer_backward(result.grads, in, layer, saved[size_t(layer)], dy,
                        router_loss.gradient(layer));
  embedding_backward(result.grads.at(embed), dy, batch.ids, C, embed_scale);
  return result;
}

}  // namespace vktrain::reference

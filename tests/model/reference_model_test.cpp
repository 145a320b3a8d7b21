// The CPU reference model (tests/reference/model.hpp) checked on its own before the GPU model is
// checked against it: its backward against central finite differences of its own loss for every
// family, with and without LoRA (the experts' too where vktrain adapts them), the routers'
// load-balancing loss included, and per family one fact that finite differences cannot see
// (packed documents, GQA, per-head q/k norms, per-layer attention types, the window's edge, the
// experts' layout).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "arch/family.hpp"
#include "io/model_config.hpp"
#include "model/layout.hpp"
#include "reference/model.hpp"
#include "support/support.hpp"

using namespace vktrain;
using nlohmann::json;
using reference::ModelBatch;
using reference::ModelWeights;

namespace {

constexpr int64_t kBatch = 2, kTime = 11;  // T a multiple of nothing
constexpr int32_t kFirstDocument = 5;      // row 1 packs documents of 5 and 6 tokens
constexpr int64_t kLoraRank = 3;
constexpr double kLoraScale = 2.0;         // not 1, so a dropped scale shows

// Tiny configs shaped like transformers 5's config.json (tests/fixtures/configs/v5), each with
// GQA and a head_dim that is not C / Hq where the family allows it.
// llama: llama3 rope scaling whose original context (64) puts D = 8's four wavelengths (6.3,
// 63, 628, 6283) in every branch: kept, smoothed, divided by the factor.
const char* kLlama = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "hidden_act": "silu",
  "rms_norm_eps": 1e-06, "max_position_embeddings": 128, "tie_word_embeddings": false,
  "rope_parameters": {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}})";
// qwen2: q/k/v biases, 4 query heads on one kv head.
const char* kQwen2 = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 31,
  "hidden_size": 16, "intermediate_size": 20, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 1, "hidden_act": "silu",
  "rms_norm_eps": 1e-06, "max_position_embeddings": 128, "tie_word_embeddings": false,
  "use_sliding_window": false, "sliding_window": null,
  "layer_types": ["full_attention", "full_attention"],
  "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}})";
// qwen3: per-head q/k norms, explicit head_dim 6, tied embeddings.
const char* kQwen3 = R"({
  "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6, "hidden_act": "silu",
  "rms_norm_eps": 1e-06, "max_position_embeddings": 128, "tie_word_embeddings": true,
  "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}})";
// gemma3: a sliding layer (window 4 < T) then a full one, each with its own rope theta, linear
// scaling on the full one (as Gemma-3 4B), query_pre_attn_scalar not D.
const char* kGemma3 = R"({
  "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
  "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
  "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 12, "rms_norm_eps": 1e-06,
  "max_position_embeddings": 128, "sliding_window": 4, "tie_word_embeddings": true,
  "layer_types": ["sliding_attention", "full_attention"],
  "rope_parameters": {
    "full_attention": {"rope_theta": 1000000.0, "rope_type": "linear", "factor": 8.0},
    "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}})";
// mistral: every layer slides with window 5 < T.
const char* kMistral = R"({
  "architectures": ["MistralForCausalLM"], "model_type": "mistral", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4, "hidden_act": "silu",
  "rms_norm_eps": 1e-05, "max_position_embeddings": 128, "tie_word_embeddings": false,
  "sliding_window": 5, "rope_theta": 1000000.0})";

// Mixtures of experts, each with the routers' load-balancing loss (output_router_logits) at a
// coefficient that makes it count. qwen3_moe: 4 experts of F 6, 2 per token, raw top-k weights
// (norm_topk_prob false), both layers sparse.
const char* kQwen3Moe = R"({
  "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6, "hidden_act": "silu",
  "rms_norm_eps": 1e-06, "max_position_embeddings": 128, "tie_word_embeddings": false,
  "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "num_experts": 4,
  "num_experts_per_tok": 2, "moe_intermediate_size": 6, "norm_topk_prob": false,
  "output_router_logits": true, "router_aux_loss_coef": 0.3})";
// mixtral: 5 experts of the model's F (10), top 2 renormalised, every layer sliding (window 5).
const char* kMixtral = R"({
  "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 10, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4, "hidden_act": "silu",
  "rms_norm_eps": 1e-05, "max_position_embeddings": 128, "tie_word_embeddings": false,
  "sliding_window": 5, "rope_theta": 1000000.0, "num_local_experts": 5,
  "num_experts_per_tok": 2, "output_router_logits": true, "router_aux_loss_coef": 0.2})";
// gpt_oss: a sliding layer (window 4) then a full one, YaRN whose original context (8) is under
// T, sinks, biases, 4 experts of F 6 with the clamped SwiGLU, 2 per token.
const char* kGptOss = R"({
  "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "vocab_size": 29,
  "hidden_size": 16, "intermediate_size": 6, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8, "hidden_act": "silu",
  "rms_norm_eps": 1e-05, "max_position_embeddings": 128, "tie_word_embeddings": false,
  "sliding_window": 4, "layer_types": ["sliding_attention", "full_attention"],
  "rope_parameters": {"rope_type": "yarn", "rope_theta": 150000.0, "factor": 4.0,
    "beta_fast": 32.0, "beta_slow": 1.0, "truncate": false,
    "original_max_position_embeddings": 8},
  "num_local_experts": 4, "num_experts_per_tok": 2, "swiglu_limit": 7.0,
  "output_router_logits": true, "router_aux_loss_coef": 0.25, "attention_bias": true})";

const char* config_text(const std::string& family) {
  static const std::map<std::string, const char*> configs = {
      {"llama", kLlama},         {"qwen2", kQwen2},     {"qwen3", kQwen3},
      {"gemma3", kGemma3},       {"mistral", kMistral}, {"qwen3_moe", kQwen3Moe},
      {"mixtral", kMixtral},     {"gpt_oss", kGptOss}};
  return configs.at(family);
}

io::ModelConfig parse(const json& config) {
  return io::parse_model_config(config.dump(), "test config.json");
}

// Every parameter of the config (and a rank-3 adapter on every linear layer, and on both expert
// weights of a mixture of experts, when `lora`), random and never zero: matrices uniform with std
// 1/sqrt(in) so activations stay O(1), norm weights in [0.5, 1.5] as multipliers (Gemma's 1 + w
// included), biases in [-0.5, 0.5]. Adapters' B are 4 times smaller, so that the adapted weights
// stay near the base ones (with deltas as large as the weights, the MoE models' losses curved so
// much that differences at eps 1e-2 were up to 1% off). gpt-oss's gates and ups stay inside its
// clamp here; the clamped ones' gradients are checked on the experts' block (ops/moe_test.cpp).
// Whether the adapter takes the experts' weights too: where the model has experts and vktrain
// adapts them (not gpt-oss's interleaved gate_up, which model/layout.cpp refuses).
bool adapts_experts(const io::ModelConfig& config) {
  return config.any_moe_layer() && !arch::describe(config.family).experts.interleaved_gate_up;
}

ModelWeights random_weights(const io::ModelConfig& config, bool lora, uint32_t seed) {
  std::vector<model::ParameterSpec> specs = reference::reference_parameters(config);
  if (lora) {
    model::LoraConfig adapter{
        .rank = kLoraRank,
        .targets = model::parse_lora_targets(adapts_experts(config) ? "all-linear,experts"
                                                                    : "all-linear")};
    for (model::ParameterSpec& spec : model::lora_parameters(config, adapter))
      specs.push_back(std::move(spec));
  }
  ModelWeights weights;
  for (const model::ParameterSpec& spec : specs) {
    size_t n = size_t(spec.elements());
    bool norm = spec.name.ends_with("norm.weight");
    float scale = spec.matrix() ? std::sqrt(3.0f / float(spec.shape.back())) : 0.5f;
    if (spec.name.ends_with(".lora_B.weight")) scale /= 4;
    float center = norm && !config.norm_plus_one ? 1.0f : 0.0f;
    std::vector<float> values = test::random_values(n, seed++, DType::f32, scale);
    for (float& v : values) v += center;
    weights[spec.name] = std::move(values);
  }
  return weights;
}

// Row 0 is one document of T tokens; row 1 packs two (kFirstDocument and T - kFirstDocument
// tokens, positions restarting at 0). Targets are the next token of the same document; the last
// token of each document is ignored (-100), and two more (-1).
ModelBatch packed_batch(int64_t vocab, uint32_t seed) {
  ModelBatch batch{.batch = kBatch, .time = kTime};
  std::mt19937 rng(seed);
  for (int64_t b = 0; b < kBatch; ++b)
    for (int32_t t = 0; t < kTime; ++t) {
      bool second = b == 1 && t >= kFirstDocument;
      batch.ids.push_back(int32_t(rng() % uint32_t(vocab)));
      batch.documents.push_back(second ? 1 : 0);
      batch.positions.push_back(second ? t - kFirstDocument : t);
    }
  for (size_t i = 0; i < batch.ids.size(); ++i) {
    bool last = i + 1 == batch.ids.size() || batch.documents[i + 1] != batch.documents[i] ||
                (i + 1) % size_t(kTime) == 0;
    batch.targets.push_back(last ? -100 : batch.ids[i + 1]);
  }
  batch.targets[3] = -1;
  batch.targets[size_t(kTime) + 7] = -1;
  return batch;
}

// Richardson's extrapolation (4 D(eps/2) - D(eps)) / 3 of two central differences D cancels
// their eps^2 error, which at eps = 1e-2 reached 5% on attention weights, and leaves O(eps^4).
// What remains is rounding: activations are stored in f32, so the loss carries noise n of ~5e-8
// (seen as ~2.6e-4 errors of plain central differences at eps = 1e-4), amplified to ~1.5 n / eps
// = ~1e-5 by the extrapolation. Allowed: 3e-5 absolute plus 1e-3 relative; the worst seen over
// all families was 1.3e-5. Sampled gradients are ~1e-4 to 1.
constexpr float kEps = 1e-2f;
constexpr double kAbsolute = 3e-5, kRelative = 1e-3;
constexpr size_t kSamples = 6;  // per tensor: first, last and four random elements

double numeric_derivative(std::vector<float>& w, size_t i, const std::function<double()>& loss) {
  return (4 * test::central_difference(w, i, kEps / 2, loss) -
          test::central_difference(w, i, kEps, loss)) / 3;
}

// The loss recomputed from the returned f32 logits [B, T, V]: it checks their layout.
double loss_from_logits(const std::vector<float>& logits, const std::vector<int32_t>& targets,
                        size_t vocab) {
  double total = 0;
  size_t counted = 0;
  for (size_t t = 0; t < targets.size(); ++t) {
    if (targets[t] < 0) continue;
    const float* row = &logits[t * vocab];
    double top = *std::max_element(row, row + vocab), sum = 0;
    for (size_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - top);
    total += top + std::log(sum) - row[targets[t]];
    ++counted;
  }
  return total / double(counted);
}

// A mixture of experts' loss is smooth only while no token changes its experts: the differences
// hold every token's experts at the base point's (the choice has no gradient).
void expect_backward_matches_finite_differences(const io::ModelConfig& config,
                                                ModelWeights weights, const ModelBatch& batch,
                                                double lora_scale) {
  const reference::ModelResult result = reference::model_reference(config, weights, batch, lora_scale);
  ASSERT_EQ(result.logits.size(), size_t(kBatch * kTime * config.vocab_size));
  EXPECT_NEAR(result.loss - result.aux_loss,
              loss_from_logits(result.logits, batch.targets, size_t(config.vocab_size)), 1e-5);
  EXPECT_EQ(result.aux_loss > 0, config.router_loss());
  ASSERT_EQ(result.grads.size(), weights.size());
  auto loss = [&] {
    return reference::model_reference(config, weights, batch, lora_scale, result.expert_ids).loss;
  };
  uint32_t seed = 1000;
  for (auto& [name, w] : weights) {
    const std::vector<double>& grad = result.grads.at(name);
    ASSERT_EQ(grad.size(), w.size()) << name;
    for (size_t i : test::sample_indices(w.size(), kSamples, seed++)) {
      double numeric = numeric_derivative(w, i, loss);
      EXPECT_NEAR(grad[i], numeric, kAbsolute + kRelative * std::fabs(numeric))
          << name << "[" << i << "]";
    }
  }
}

// For each position of row 0: whether any of its logits changes when token `token` of row 0 does.
std::vector<bool> positions_reached(const io::ModelConfig& config, const ModelWeights& weights,
                                    ModelBatch batch, size_t token) {
  const size_t V = size_t(config.vocab_size);
  const std::vector<float> before = reference::model_reference(config, weights, batch).logits;
  batch.ids[token] = int32_t((batch.ids[token] + 1) % config.vocab_size);
  const std::vector<float> after = reference::model_reference(config, weights, batch).logits;
  std::vector<bool> reached;
  for (size_t t = 0; t < size_t(kTime); ++t)
    reached.push_back(!std::equal(&before[t * V], &before[(t + 1) * V], &after[t * V]));
  return reached;
}

std::vector<bool> positions_between(size_t first, size_t last) {
  std::vector<bool> out;
  for (size_t t = 0; t < size_t(kTime); ++t) out.push_back(first <= t && t <= last);
  return out;
}

// The rows of one head of a projection [heads * D, C] times a power of two (exact in f32).
void scale_head(std::vector<float>& weight, int64_t head, int64_t head_dim, int64_t in, float by) {
  for (int64_t i = head * head_dim * in; i < (head + 1) * head_dim * in; ++i) weight[size_t(i)] *= by;
}

}  // namespace

class ReferenceModel : public testing::TestWithParam<std::string> {};

TEST_P(ReferenceModel, BackwardMatchesFiniteDifferences) {
  io::ModelConfig config = parse(json::parse(config_text(GetParam())));
  ModelBatch batch = packed_batch(config.vocab_size, 7);
  expect_backward_matches_finite_differences(config, random_weights(config, false, 1), batch, 1.0);
}

TEST_P(ReferenceModel, BackwardWithLoraMatchesFiniteDifferences) {
  io::ModelConfig config = parse(json::parse(config_text(GetParam())));
  ModelBatch batch = packed_batch(config.vocab_size, 8);
  expect_backward_matches_finite_differences(config, random_weights(config, true, 2), batch,
                                             kLoraScale);
}

INSTANTIATE_TEST_SUITE_P(Families, ReferenceModel,
                         testing::Values("llama", "qwen2", "qwen3", "gemma3", "mistral",
                                         "qwen3_moe", "mixtral", "gpt_oss"),
                         [](const auto& info) { return info.param; });

// Each packed document of row 1 gives exactly the logits it gives alone at positions from 0:
// masked keys add exact zeros to the softmax sums, so equality is bitwise.
TEST(ReferenceModelFacts, LlamaPackedDocumentsEqualEachDocumentAlone) {
  io::ModelConfig config = parse(json::parse(kLlama));
  ModelWeights weights = random_weights(config, true, 3);
  ModelBatch batch = packed_batch(config.vocab_size, 9);
  const std::vector<float> packed = reference::model_reference(config, weights, batch, kLoraScale).logits;
  const size_t V = size_t(config.vocab_size);
  for (auto [begin, end] : {std::pair{kTime, kTime + kFirstDocument}, {kTime + kFirstDocument, 2 * kTime}}) {
    ModelBatch alone{.batch = 1, .time = end - begin};
    alone.ids.assign(&batch.ids[size_t(begin)], &batch.ids[size_t(end)]);
    alone.targets.assign(&batch.targets[size_t(begin)], &batch.targets[size_t(end)]);
    for (int32_t t = 0; t < end - begin; ++t) alone.positions.push_back(t);
    EXPECT_EQ(reference::model_reference(config, weights, alone, kLoraScale).logits,
              std::vector<float>(&packed[size_t(begin) * V], &packed[size_t(end) * V]))
        << "document at " << begin - kTime;
  }
}

// y = x W^T + s (x A^T) B^T is x (W + s B A)^T: the adapter and its merge agree up to rounding.
TEST(ReferenceModelFacts, LlamaLoraEqualsItsMergedWeights) {
  io::ModelConfig config = parse(json::parse(kLlama));
  ModelWeights weights = random_weights(config, true, 4), merged;
  for (const auto& [name, w] : weights)
    if (name.find(".lora_") == std::string::npos) merged[name] = w;
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (const char* module : model::kLinearModules) {
      std::string path = model::layer_name(layer, model::module_path(module));
      auto [out, in] = model::projection_shape(config, module);
      const auto& a = weights.at(path + ".lora_A.weight");
      const auto& b = weights.at(path + ".lora_B.weight");
      for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) {
          double delta = 0;
          for (int64_t r = 0; r < kLoraRank; ++r)
            delta += double(b[size_t(o * kLoraRank + r)]) * a[size_t(r * in + i)];
          float& w = merged.at(path + ".weight")[size_t(o * in + i)];
          w = float(w + kLoraScale * delta);
        }
    }
  ModelBatch batch = packed_batch(config.vocab_size, 10);
  std::vector<float> want = reference::model_reference(config, merged, batch).logits;
  EXPECT_LT(test::relative_error(reference::model_reference(config, weights, batch, kLoraScale).logits,
                                 want),
            1e-5);
}

// GQA: 4 query heads on 2 kv heads give what 4 kv heads give when kv head h / 2 is repeated into
// h, as transformers' repeat_kv does (a head h % Hkv mapping would not).
TEST(ReferenceModelFacts, Qwen2GroupedKvHeadsEqualRepeatedKvHeads) {
  json grouped = json::parse(kQwen2), repeated = grouped;
  grouped["num_key_value_heads"] = 2;
  repeated["num_key_value_heads"] = 4;
  io::ModelConfig config = parse(grouped), expanded = parse(repeated);
  ModelWeights weights = random_weights(config, false, 5), expanded_weights = weights;
  const size_t D = size_t(config.head_dim), C = size_t(config.hidden_size);
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (const char* module : {"self_attn.k_proj", "self_attn.v_proj"})
      for (auto [suffix, row] : {std::pair{".weight", C}, {".bias", size_t(1)}}) {
        const std::string name = model::layer_name(layer, module) + suffix;
        const std::vector<float>& w = weights.at(name);
        std::vector<float>& out = expanded_weights.at(name);
        out.clear();
        for (size_t head = 0; head < 4; ++head)
          out.insert(out.end(), &w[head / 2 * D * row], &w[(head / 2 + 1) * D * row]);
      }
  ModelBatch batch = packed_batch(config.vocab_size, 11);
  EXPECT_EQ(reference::model_reference(config, weights, batch).logits,
            reference::model_reference(expanded, expanded_weights, batch).logits);
}

// The q/k norms normalise each head over its own D values: rescaling one head's rows of q_proj or
// k_proj changes nothing but the eps term (~1e-6). A norm over all heads would change the logits.
TEST(ReferenceModelFacts, Qwen3QkNormsMakeEachHeadScaleFree) {
  io::ModelConfig config = parse(json::parse(kQwen3));
  ModelWeights weights = random_weights(config, false, 6), scaled = weights;
  const int64_t D = config.head_dim, C = config.hidden_size;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    std::vector<float>& q = scaled.at(model::layer_name(layer, "self_attn.q_proj.weight"));
    std::vector<float>& k = scaled.at(model::layer_name(layer, "self_attn.k_proj.weight"));
    scale_head(q, 0, D, C, 4.0f);
    scale_head(q, 3, D, C, 0.25f);
    scale_head(k, 1, D, C, 8.0f);
  }
  ModelBatch batch = packed_batch(config.vocab_size, 12);
  std::vector<float> want = reference::model_reference(config, weights, batch).logits;
  std::vector<float> got = reference::model_reference(config, scaled, batch).logits;
  EXPECT_NE(got, want);
  EXPECT_LT(test::relative_error(got, want), 1e-5);
}

// Layer types are per layer: with [sliding, sliding] and window 4, token 0 reaches positions up
// to 2 (4 - 1) = 6 and no further; make the second layer full and it reaches every position.
void expect_sliding_then_full_layers_reach(const char* text, bool lora, uint32_t seed) {
  json both_sliding = json::parse(text);
  both_sliding["layer_types"] = {"sliding_attention", "sliding_attention"};
  io::ModelConfig config = parse(json::parse(text)), sliding = parse(both_sliding);
  ModelWeights weights = random_weights(config, lora, seed);
  ModelBatch batch = packed_batch(config.vocab_size, seed + 6);
  EXPECT_EQ(positions_reached(sliding, weights, batch, 0), positions_between(0, 6));
  EXPECT_EQ(positions_reached(config, weights, batch, 0), positions_between(0, size_t(kTime) - 1));
}

TEST(ReferenceModelFacts, Gemma3SlidingAndFullLayersReachAsFarAsTheirTypes) {
  expect_sliding_then_full_layers_reach(kGemma3, true, 7);
}

// gpt-oss alternates a sliding layer (window 4) and a full one.
TEST(ReferenceModelFacts, GptOssLayersSlideAndAttendFullyInTurn) {
  expect_sliding_then_full_layers_reach(kGptOss, false, 19);
}

// The window's edge: a key j is seen from i when i - j < 5, so through two layers token 1 reaches
// positions 1 .. 1 + 2 (5 - 1) = 9; an i - j <= 5 mask would reach position 10.
TEST(ReferenceModelFacts, MistralSlidingWindowEndsAtItsEdge) {
  io::ModelConfig config = parse(json::parse(kMistral));
  ModelWeights weights = random_weights(config, false, 8);
  EXPECT_EQ(positions_reached(config, weights, packed_batch(config.vocab_size, 14), 1),
            positions_between(1, 9));
}

// Every expert a copy of a dense model's MLP (gate rows, then up rows, of gate_up_proj): the top
// k weights, renormalised, sum to 1, so the mixture is that MLP whatever the random router
// picks. Swapped gate and up rows, or unnormalised weights, would change the logits.
TEST(ReferenceModelFacts, Qwen3MoeIdenticalExpertsEqualTheDenseMlp) {
  json sparse = json::parse(kQwen3Moe), dense = json::parse(kQwen3);
  sparse["norm_topk_prob"] = true;
  sparse["output_router_logits"] = false;
  dense["intermediate_size"] = sparse["moe_intermediate_size"];
  dense["head_dim"] = sparse["head_dim"];
  dense["tie_word_embeddings"] = false;
  io::ModelConfig moe = parse(sparse), mlp = parse(dense);
  ModelWeights weights = random_weights(mlp, false, 16), experts = weights;
  for (int64_t layer = 0; layer < moe.num_layers; ++layer) {
    auto take = [&](const char* module) {
      return experts.extract(model::layer_name(layer, std::string("mlp.") + module + ".weight"))
          .mapped();
    };
    const std::vector<float> gate = take("gate_proj"), up = take("up_proj"), down = take("down_proj");
    std::vector<float>& gate_up = experts[model::layer_name(layer, "mlp.experts.gate_up_proj")];
    std::vector<float>& downs = experts[model::layer_name(layer, "mlp.experts.down_proj")];
    for (int64_t e = 0; e < moe.moe.experts; ++e) {
      gate_up.insert(gate_up.end(), gate.begin(), gate.end());
      gate_up.insert(gate_up.end(), up.begin(), up.end());
      downs.insert(downs.end(), down.begin(), down.end());
    }
    experts[model::layer_name(layer, "mlp.gate.weight")] =
        test::random_values(size_t(moe.moe.experts * moe.hidden_size), 17 + uint32_t(layer));
  }
  ModelBatch batch = packed_batch(mlp.vocab_size, 18);
  const std::vector<float> want = reference::model_reference(mlp, weights, batch).logits;
  EXPECT_LT(test::relative_error(reference::model_reference(moe, experts, batch).logits, want),
            1e-6);
}

// A sink is a logit in each softmax with nothing to attend to: far below the scores it takes no
// weight and the model is the one without sinks; at 0 it takes some, and the logits move.
TEST(ReferenceModelFacts, GptOssSinksTakeTheirShareOfEachSoftmax) {
  io::ModelConfig config = parse(json::parse(kGptOss)), without = config;
  without.attention_sinks = false;
  ModelWeights weights = random_weights(config, false, 21), none = weights;
  for (int64_t layer = 0; layer < config.num_layers; ++layer) {
    none.erase(model::layer_name(layer, "self_attn.sinks"));
    for (float& sink : weights.at(model::layer_name(layer, "self_attn.sinks"))) sink = -100.0f;
  }
  ModelBatch batch = packed_batch(config.vocab_size, 22);
  const std::vector<float> want = reference::model_reference(without, none, batch).logits;
  EXPECT_EQ(reference::model_reference(config, weights, batch).logits, want);
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    for (float& sink : weights.at(model::layer_name(layer, "self_attn.sinks"))) sink = 0.0f;
  EXPECT_GT(test::relative_error(reference::model_reference(config, weights, batch).logits, want),
            1e-3);
}

// Wrong inputs fail naming the weight or the field.
TEST(ReferenceModelFacts, RejectsMissingUnknownAndMisshapenWeights) {
  io::ModelConfig config = parse(json::parse(kQwen2));
  ModelBatch batch = packed_batch(config.vocab_size, 15);
  ModelWeights weights = random_weights(config, false, 9);
  auto run = [&](ModelWeights w, ModelBatch b) {
    return test::error_message([&] { reference::model_reference(config, w, b); });
  };
  ModelWeights missing = weights, unknown = weights, misshapen = weights, half_lora = weights;
  missing.erase("model.layers.1.self_attn.k_proj.bias");
  unknown["model.layers.0.self_attn.q_norm.weight"] = std::vector<float>(4, 1.0f);
  misshapen.at("model.norm.weight").pop_back();
  half_lora["model.layers.0.mlp.up_proj.lora_A.weight"] = std::vector<float>(16, 1.0f);
  EXPECT_NE(run(missing, batch).find("missing weight 'model.layers.1.self_attn.k_proj.bias'"),
            std::string::npos);
  EXPECT_NE(run(unknown, batch).find("'model.layers.0.self_attn.q_norm.weight' is not a parameter"),
            std::string::npos);
  EXPECT_NE(run(misshapen, batch).find("'model.norm.weight' has 15 elements"), std::string::npos);
  EXPECT_NE(run(half_lora, batch).find("only one of lora_A and lora_B"), std::string::npos);
  ModelBatch ignored = batch;
  ignored.targets.assign(ignored.targets.size(), -100);
  EXPECT_NE(run(weights, ignored).find("no target is >= 0"), std::string::npos);
}

// A mixture of experts' wrong inputs: an expert adapter that fits neither expert weight, held
// choices for the wrong number of layers or tokens, or naming an expert that does not exist.
TEST(ReferenceModelFacts, RejectsMisshapenExpertAdaptersAndChoices) {
  io::ModelConfig config = parse(json::parse(kMixtral));
  ModelBatch batch = packed_batch(config.vocab_size, 23);
  ModelWeights weights = random_weights(config, true, 24);
  const reference::ModelResult result = reference::model_reference(config, weights, batch);
  auto run = [&](const ModelWeights& w, const reference::ExpertChoices& ids) {
    return test::error_message([&] { reference::model_reference(config, w, batch, 1.0, ids); });
  };
  ModelWeights misshapen = weights;
  misshapen.at("model.layers.1.mlp.experts.lora_B.weight").pop_back();
  EXPECT_NE(run(misshapen, {}).find("adapt neither expert weight"), std::string::npos);
  reference::ExpertChoices one_layer = {result.expert_ids[0]}, short_ids = result.expert_ids,
                           unknown = result.expert_ids;
  short_ids[1].pop_back();
  unknown[0][3] = int32_t(config.moe.experts);
  EXPECT_NE(run(weights, one_layer).find("holds 1 layers' choices; the model has 2"),
            std::string::npos);
  EXPECT_NE(run(weights, short_ids).find("has 43 choices for 22 tokens of 2"), std::string::npos);
  EXPECT_NE(run(weights, unknown).find("names expert 5 of 5"), std::string::npos);
}

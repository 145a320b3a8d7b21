#include <gtest/gtest.h>

#include <cmath>

#include "model/init.hpp"
#include "model/layout.hpp"
#include "model/presets.hpp"

using namespace vktrain;

namespace {

struct Moments {
  double mean = 0, std = 0;
  size_t count = 0;
};

Moments moments_of(const std::vector<float>& values) {
  Moments m;
  double sum = 0, squares = 0;
  for (float v : values) sum += v, squares += double(v) * v;
  m.count = values.size();
  m.mean = sum / double(m.count);
  m.std = std::sqrt(squares / double(m.count) - m.mean * m.mean);
  return m;
}

}  // namespace

TEST(Init, EveryBaseParameterWithItsShape) {
  for (auto family : {"qwen3", "qwen2", "llama", "gemma3"}) {
    SCOPED_TRACE(family);
    auto config = model::model_preset(family, "tiny");
    config.vocab_size = 300;
    auto weights = model::initial_weights(config, 1);
    auto specs = model::base_parameters(config);
    ASSERT_EQ(weights.size(), specs.size());
    for (const auto& spec : specs) {
      ASSERT_EQ(weights.at(spec.name).size(), spec.elements()) << spec.name;
    }
  }
}

TEST(Init, LinearAndEmbeddingWeightsAreNormalWithTheGivenStd) {
  auto config = model::model_preset("llama", "tiny");
  config.tie_word_embeddings = false;
  for (double range : {0.02, 0.1}) {
    SCOPED_TRACE(range);
    std::vector<float> all;
    for (const auto& [name, values] : model::initial_weights(config, 7, range)) {
      if (values.size() < 1000) continue;  // norms
      auto m = moments_of(values);
      // Each tensor alone: the mean within 5 standard errors, the std within 2%.
      EXPECT_LT(std::abs(m.mean), 5 * range / std::sqrt(double(m.count))) << name;
      EXPECT_NEAR(m.std, range, 0.02 * range) << name;
      all.insert(all.end(), values.begin(), values.end());
    }
    auto m = moments_of(all);
    EXPECT_GT(m.count, 8900000u);
    EXPECT_NEAR(m.std, range, 0.002 * range);
    // A normal's share within one std is 68.27%; its 4th moment is 3 std^4.
    size_t inside = 0;
    double fourth = 0;
    for (float v : all) {
      inside += std::abs(v) < range;
      fourth += std::pow(double(v) / range, 4);
    }
    EXPECT_NEAR(double(inside) / double(all.size()), 0.6827, 0.001);
    EXPECT_NEAR(fourth / double(all.size()), 3.0, 0.02);
  }
}

TEST(Init, BiasesZeroNormsOneAndGemmaNormsZero) {
  auto qwen2 = model::model_preset("qwen2", "tiny");
  qwen2.vocab_size = 100;
  for (const auto& [name, values] : model::initial_weights(qwen2, 3)) {
    const float expected = name.ends_with(".bias") ? 0.0f : 1.0f;
    if (name.ends_with(".bias") || name.ends_with("norm.weight")) {
      for (float v : values) ASSERT_EQ(v, expected) << name;
    }
  }
  auto gemma = model::model_preset("gemma3", "tiny");
  gemma.vocab_size = 100;
  auto weights = model::initial_weights(gemma, 3);
  size_t norms = 0;
  for (const auto& [name, values] : weights)
    if (name.ends_with("norm.weight")) {  // Gemma3RMSNorm scales by 1 + w
      ++norms;
      for (float v : values) ASSERT_EQ(v, 0.0f) << name;
    }
  EXPECT_EQ(norms, 6u * 6 + 1);  // input, q, k, post-attention, pre- and post-FFN; final
  // Row 0 is the pad token's (Gemma3TextConfig's pad_token_id), zero as nn.Embedding's
  // padding_idx row; the next row is drawn.
  const auto& embed = weights.at("model.embed_tokens.weight");
  for (int64_t i = 0; i < gemma.hidden_size; ++i) ASSERT_EQ(embed[size_t(i)], 0.0f);
  EXPECT_NE(embed[size_t(gemma.hidden_size)], 0.0f);
}

TEST(Init, SameSeedSameValuesAndEachTensorItsOwnStream) {
  auto config = model::model_preset("qwen3", "tiny");
  config.vocab_size = 500;
  auto a = model::initial_weights(config, 42);
  EXPECT_EQ(a, model::initial_weights(config, 42));
  auto b = model::initial_weights(config, 43);
  const auto& q0 = a.at("model.layers.0.self_attn.q_proj.weight");
  EXPECT_NE(q0, b.at("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_NE(q0, a.at("model.layers.1.self_attn.q_proj.weight"));
  // Untying adds lm_head without changing any other tensor's values.
  config.tie_word_embeddings = false;
  auto untied = model::initial_weights(config, 42);
  for (const auto& [name, values] : a) EXPECT_EQ(untied.at(name), values) << name;
  EXPECT_NE(untied.at("lm_head.weight"), a.at("model.embed_tokens.weight"));
}

// The generator's first values for one tensor, fixed: a change here changes every model that
// `vktrain init --seed` makes.
TEST(Init, TheStreamIsPinned) {
  auto config = model::model_preset("qwen3", "tiny");
  model::ParameterSpec spec{"model.layers.0.mlp.up_proj.weight", {384, 128}};
  auto values = model::initial_values(config, spec, 0);
  const std::vector<float> pinned = {-0.022487685f, 0.0014217021f, -0.01771892f, -0.02907583f,
                                     0.017420925f,  0.02770873f,   0.010515902f, 0.022616744f};
  for (size_t i = 0; i < pinned.size(); ++i) EXPECT_EQ(values[i], pinned[i]) << i;
}

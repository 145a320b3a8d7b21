// YaRN's RoPE (model/rope_frequencies.hpp) against transformers' _compute_yarn_parameters
// (modeling_rope_utils.py) written out here in double: gpt-oss's parameters, where its
// un-truncated ramp runs from dimension pair 8.09 to 17.40, and the same rounded out to whole
// pairs (truncate true, transformers' default); the attention factor 0.1 ln(32) + 1 as the
// softmax scale's square on the layers that rotate with it.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "io/model_config.hpp"
#include "model/rope_frequencies.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// gpt-oss: head_dim 64, theta 150000, factor 32 over an original context of 4096.
io::RopeScaling gpt_oss_yarn(bool truncate) {
  io::RopeScaling s;
  s.type = "yarn";
  s.factor = 32;
  s.original_max_position_embeddings = 4096;
  s.truncate = truncate;
  return s;
}

// _compute_yarn_parameters, step for step in double.
std::vector<double> expected_yarn(double dim, double base, const io::RopeScaling& s) {
  auto correction_dim = [&](double rotations) {  // find_correction_dim
    return dim * std::log(4096.0 / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  double low = correction_dim(32), high = correction_dim(1);  // beta_fast, beta_slow
  if (s.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0), high = std::min(high, dim - 1);
  std::vector<double> out;
  for (int i = 0; i < int(dim) / 2; ++i) {
    const double pos_freq = std::pow(base, 2 * i / dim);
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);  // linear_ramp_factor
    const double extrapolation_factor = 1 - ramp;
    out.push_back(1 / (32 * pos_freq) * (1 - extrapolation_factor) +
                  1 / pos_freq * extrapolation_factor);
  }
  return out;
}

TEST(RopeFrequencies, YarnMatchesTransformersFormula) {
  for (bool truncate : {false, true}) {
    SCOPED_TRACE(truncate);
    const io::RopeScaling s = gpt_oss_yarn(truncate);
    const std::vector<float> got = model::yarn_inverse_frequencies(64, 150000, s);
    const std::vector<double> want = expected_yarn(64, 150000, s);
    ASSERT_EQ(got.size(), 32u);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 2e-7 * want[i]) << i;
    // Below the ramp the frequencies are kept, above it divided by the factor.
    EXPECT_NEAR(got[0], 1.0, 1e-7);
    EXPECT_NEAR(got[31], 1 / (32 * std::pow(150000.0, 62 / 64.0)), 1e-7 * got[31]);
  }
  // Pair 9 is 0.0975 up the un-truncated ramp (8.09..17.40) and 0.1 up the truncated one (8..18).
  EXPECT_NE(model::yarn_inverse_frequencies(64, 150000, gpt_oss_yarn(false))[9],
            model::yarn_inverse_frequencies(64, 150000, gpt_oss_yarn(true))[9]);
}

TEST(RopeFrequencies, YarnRefusesABaseItCannotTakeTheLogarithmOf) {
  const std::string error = test::error_message(
      [] { model::yarn_inverse_frequencies(64, 1.0, gpt_oss_yarn(false)); });
  EXPECT_NE(error.find("[rope] yarn scaling needs rope_theta above 1"), std::string::npos)
      << error;
}

TEST(RopeFrequencies, YarnAttentionFactorScalesTheScoresSquared) {
  io::RopeScaling s = gpt_oss_yarn(false);
  EXPECT_DOUBLE_EQ(model::yarn_attention_factor(s), 0.1 * std::log(32.0) + 1);  // 1.3466
  s.attention_factor = 1.25;  // given: taken as it is
  EXPECT_DOUBLE_EQ(model::yarn_attention_factor(s), 1.25);
  s.attention_factor = 0;
  s.factor = 1;
  EXPECT_DOUBLE_EQ(model::yarn_attention_factor(s), 1.0);

  io::ModelConfig c = io::family_config(io::Family::qwen2);
  c.head_dim = 64;
  c.num_layers = 1;
  c.sliding_layers = {false};
  c.rope_scaling = gpt_oss_yarn(false);
  const double factor = 0.1 * std::log(32.0) + 1;
  EXPECT_DOUBLE_EQ(model::layer_attention_scale(c, 0), factor * factor / 8);
  c.rope_scaling = {};
  EXPECT_DOUBLE_EQ(model::layer_attention_scale(c, 0), 1.0 / 8);
}

}  // namespace
}  // namespace vktrain

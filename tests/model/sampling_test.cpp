// Host sampling (model/sampling.hpp): which tokens each filter keeps, the order of the filters,
// seeded determinism, and stop strings.
#include <gtest/gtest.h>

#include <cmath>

#include "model/sampling.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

std::vector<int32_t> tokens(const std::vector<model::Candidate>& c) {
  std::vector<int32_t> out;
  for (const auto& x : c) out.push_back(x.token);
  return out;
}

// Logits whose softmax (temperature 1) is 0.5, 0.25, 0.125, 0.0625, 0.0625 for tokens 3, 0, 4,
// 1, 2.
std::vector<float> logits() {
  return {float(std::log(0.25)), float(std::log(0.0625)), float(std::log(0.0625)),
          float(std::log(0.5)), float(std::log(0.125))};
}

}  // namespace

TEST(Sampling, GreedyTakesTheFirstLargest) {
  std::vector<float> l{1, 5, 5, 2};
  EXPECT_EQ(tokens(model::candidates(l, {.temperature = 0})), (std::vector<int32_t>{1}));
  model::Sampler s({.temperature = 0, .top_k = 1});
  EXPECT_EQ(s.next(l), 1);
}

TEST(Sampling, NoFilterKeepsEveryTokenWithItsProbability) {
  auto c = model::candidates(logits(), {});
  EXPECT_EQ(tokens(c), (std::vector<int32_t>{3, 0, 4, 1, 2}));
  EXPECT_NEAR(c[0].probability, 0.5, 1e-6);
  EXPECT_NEAR(c[4].probability, 0.0625, 1e-6);
}

TEST(Sampling, TopKKeepsTheLargestAndTheirTies) {
  EXPECT_EQ(tokens(model::candidates(logits(), {.top_k = 2})), (std::vector<int32_t>{3, 0}));
  auto c = model::candidates(logits(), {.top_k = 4});  // token 2 ties token 1, the 4th
  EXPECT_EQ(tokens(c), (std::vector<int32_t>{3, 0, 4, 1, 2}));
  auto two = model::candidates(logits(), {.top_k = 2});
  EXPECT_NEAR(two[0].probability, 2.0 / 3, 1e-6);  // renormalised
}

TEST(Sampling, TopPKeepsTheTokenThatCrossesIt) {
  EXPECT_EQ(tokens(model::candidates(logits(), {.top_p = 0.5})), (std::vector<int32_t>{3}));
  EXPECT_EQ(tokens(model::candidates(logits(), {.top_p = 0.6})), (std::vector<int32_t>{3, 0}));
  EXPECT_EQ(tokens(model::candidates(logits(), {.top_p = 0.8})), (std::vector<int32_t>{3, 0, 4}));
}

TEST(Sampling, MinPIsRelativeToTheMostLikely) {
  // 0.24 * 0.5 = 0.12: tokens at least that likely stay.
  EXPECT_EQ(tokens(model::candidates(logits(), {.min_p = 0.24})), (std::vector<int32_t>{3, 0, 4}));
  EXPECT_EQ(tokens(model::candidates(logits(), {.min_p = 0.6})), (std::vector<int32_t>{3}));
}

TEST(Sampling, TemperatureComesBeforeTopP) {
  // At temperature 0.5 the probabilities are squared and renormalised: token 3 alone holds
  // 0.25 / (0.25 + 0.0625 + 0.015625 + 2 * 0.00390625) = 0.744 > 0.7.
  EXPECT_EQ(tokens(model::candidates(logits(), {.temperature = 0.5, .top_p = 0.7})),
            (std::vector<int32_t>{3}));
  EXPECT_EQ(tokens(model::candidates(logits(), {.temperature = 1, .top_p = 0.7})),
            (std::vector<int32_t>{3, 0}));
}

TEST(Sampling, ASeedRepeatsItsDrawsAndFollowsTheProbabilities) {
  auto draw = [](uint64_t seed) {
    model::Sampler s({.seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 4000; ++i) out.push_back(s.next(logits()));
    return out;
  };
  auto a = draw(1), b = draw(1), c = draw(2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double share = double(std::count(a.begin(), a.end(), 3)) / double(a.size());
  EXPECT_NEAR(share, 0.5, 0.03);
  EXPECT_EQ(std::count(a.begin(), a.end(), 2) > 0, true);
}

TEST(Sampling, BadOptionsAreOneError) {
  EXPECT_EQ(test::error_message([] { model::Sampler s({.temperature = -1}); }),
            "[generate] --temp -1 must be 0 (greedy) or positive");
  EXPECT_EQ(test::error_message([] { model::Sampler s({.top_p = 0}); }),
            "[generate] --top-p 0 must be in (0, 1] (1: off)");
  EXPECT_EQ(test::error_message([] { model::Sampler s({.min_p = 2}); }),
            "[generate] --min-p 2 must be in [0, 1] (0: off)");
}

TEST(Sampling, StopStrings) {
  std::vector<std::string> stops{"</s>", "\n\n"};
  EXPECT_EQ(model::find_stop("hello</s>more", stops), 5u);
  EXPECT_EQ(model::find_stop("a\n\nb</s>", stops), 1u);
  EXPECT_EQ(model::find_stop("hello", stops), std::string_view::npos);
  EXPECT_EQ(model::pending_stop_prefix("hello</", stops), 2u);
  EXPECT_EQ(model::pending_stop_prefix("hello\n", stops), 1u);
  EXPECT_EQ(model::pending_stop_prefix("hello", stops), 0u);
}

}  // namespace vktrain

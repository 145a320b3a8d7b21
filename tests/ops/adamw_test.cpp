#include <gtest/gtest.h>

#include <cmath>

#include "ops/adamw.hpp"
#include "ops/elementwise.hpp"
#include "ops/reduce.hpp"
#include "reference/adamw.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {

// A parameter arena of `rows` x 67 elements in three groups: decayed, not decayed (a norm or
// bias), decayed. Each step: new random gradients, the squared norm on the device, one AdamW
// update from one recording replayed with new step values. Checked against the reference.
void check_steps(vk::Context& ctx, int64_t rows, const reference::AdamwSettings& s) {
  const int64_t cols = 67;
  uint64_t n = uint64_t(rows * cols);
  ops::AdamwOptions options{s.beta1, s.beta2, s.eps, s.weight_decay, s.max_grad_norm};
  std::vector<ops::AdamwGroup> groups = {{0, n / 2, true}, {n / 2, 100, false},
                                         {n / 2 + 100, n - n / 2 - 100, true}};
  std::vector<bool> decay(n, true);
  for (uint64_t i = n / 2; i < n / 2 + 100; ++i) decay[i] = false;

  auto start = test::random_values(n, 1);
  std::vector<double> want_p(start.begin(), start.end()), want_m(n, 0), want_v(n, 0);
  Tensor params = test::tensor_with({rows, cols}, DType::f32, start, "params", ctx);
  Tensor grads = make_tensor(ctx, DType::f32, {rows, cols}, "grads");
  Tensor m = make_tensor(ctx, DType::f32, {rows, cols}, "m");
  Tensor v = make_tensor(ctx, DType::f32, {rows, cols}, "v");
  Tensor step_values = make_tensor(ctx, DType::f32, {3}, "step values");
  Tensor norm_sq = make_tensor(ctx, DType::f32, {1}, "grad norm^2");
  vk::Recorder zero(ctx);
  ops::fill(zero, m, 0.0f);
  ops::fill(zero, v, 0.0f);
  zero.run();

  vk::Recorder rec(ctx);
  ops::sum_squares(rec, norm_sq, grads);
  ops::adamw_update(rec, params, m, v, grads, step_values, &norm_sq, groups, options);
  for (int64_t step = 1; step <= 4; ++step) {
    double lr = s.lr * (1.0 - 0.2 * double(step - 1));  // a schedule: each step its own lr
    auto g = test::random_values(n, uint32_t(10 + step), DType::f32, 0.5f);
    write_floats(ctx, grads, g);
    auto values = ops::adamw_step_values(lr, step, options);
    write_floats(ctx, step_values, values);
    rec.run();
    auto at_step = s;
    at_step.lr = lr;
    reference::adamw(want_p, want_m, want_v, g, decay, step, at_step);
  }
  // f32 arithmetic against double over 4 steps (a few roundings of ~6e-8 each); parameters ~1
  // move by ~lr per step.
  EXPECT_LT(test::relative_error(read_floats(ctx, params), want_p), 2e-6);
  EXPECT_LT(test::relative_error(read_floats(ctx, m), want_m), 1e-6);
  EXPECT_LT(test::relative_error(read_floats(ctx, v), want_v), 1e-6);
}

}  // namespace

TEST(Adamw, MatchesTheReferenceOverReplayedSteps) {
  check_steps(test::context(), 301, {.lr = 1e-2, .weight_decay = 0.1});
}

TEST(Adamw, ClipsToTheGlobalNorm) {
  // 301 x 67 gradients of magnitude ~0.25 have a norm of ~40: clipping to 1 scales them down.
  check_steps(test::context(), 301, {.lr = 1e-2, .weight_decay = 0.01, .max_grad_norm = 1.0});
}

TEST(Adamw, NormAboveTheGradientsLeavesThemAlone) {
  check_steps(test::context(), 30, {.lr = 3e-3, .max_grad_norm = 1e6});
}

TEST(Adamw, ArenasSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // ~61 rows of 67 floats per span
  vk::Context ctx(options);
  check_steps(ctx, 301, {.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99, .weight_decay = 0.1});
}

TEST(Adamw, StepValuesAreTorchs) {
  ops::AdamwOptions options{0.9, 0.999, 1e-8, 0.1, 0};
  auto values = ops::adamw_step_values(1e-3, 3, options);
  EXPECT_FLOAT_EQ(values[0], float(1 - 1e-3 * 0.1));
  EXPECT_FLOAT_EQ(values[1], float(1e-3 / (1 - 0.9 * 0.9 * 0.9)));
  EXPECT_FLOAT_EQ(values[2], float(std::sqrt(1 - 0.999 * 0.999 * 0.999)));
  EXPECT_NE(test::error_message([&] { ops::adamw_step_values(1e-3, 0, options); }), "");
}

TEST(AdamwErrors, MismatchedArenasAndMissingNormAreNamed) {
  auto& ctx = test::context();
  Tensor p = make_tensor(ctx, DType::f32, {10}, "params");
  Tensor g = make_tensor(ctx, DType::f32, {9}, "grads");
  Tensor m = make_tensor(ctx, DType::f32, {10}, "m"), v = make_tensor(ctx, DType::f32, {10}, "v");
  Tensor s = make_tensor(ctx, DType::f32, {3}, "step values");
  vk::Recorder rec(ctx);
  EXPECT_NE(test::error_message([&] { ops::adamw_update(rec, p, m, v, g, s, nullptr, {}, {}); })
                .find("grads"),
            std::string::npos);
  Tensor g10 = make_tensor(ctx, DType::f32, {10}, "grads");
  ops::AdamwOptions clip;
  clip.max_grad_norm = 1;
  EXPECT_NE(test::error_message([&] { ops::adamw_update(rec, p, m, v, g10, s, nullptr, {}, clip); })
                .find("squared gradient norm"),
            std::string::npos);
  EXPECT_NE(test::error_message(
                [&] { ops::adamw_update(rec, p, m, v, g10, s, nullptr, {{5, 6, true}}, {}); })
                .find("outside"),
            std::string::npos);
}

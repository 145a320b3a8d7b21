#include <gtest/gtest.h>

#include <cmath>

#include "ops/dropout.hpp"
#include "reference/lora.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {

constexpr int64_t kRows = 331, kCols = 317;  // 104,927 elements, not a multiple of 256

Tensor seed_tensor(vk::Context& ctx, int32_t value) {
  Tensor seed = make_tensor(ctx, DType::i32, {1}, "seed");
  write_ints(ctx, seed, std::vector<int32_t>{value});
  return seed;
}

// Which elements `dropout` zeroed (inputs are never zero).
std::vector<bool> dropped(const std::vector<float>& out) {
  std::vector<bool> mask(out.size());
  for (size_t i = 0; i < out.size(); ++i) mask[i] = out[i] == 0.0f;
  return mask;
}

double fraction_differing(const std::vector<bool>& a, const std::vector<bool>& b) {
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  return double(differ) / double(a.size());
}

std::vector<bool> gpu_mask(vk::Context& ctx, const Tensor& in, int32_t seed, uint32_t salt,
                           float p) {
  Tensor s = seed_tensor(ctx, seed);
  Tensor out = make_tensor(ctx, in.dtype, in.shape, "out");
  vk::Recorder rec(ctx);
  ops::dropout(rec, out, in, {p, salt, &s}, false);
  rec.run();
  return dropped(read_floats(ctx, out));
}

}  // namespace

TEST(LoraDropout, DropsAFractionPAndScalesTheRest) {
  auto& ctx = test::context();
  const float p = 0.1f;
  auto values = test::random_values(size_t(kRows * kCols), 1);
  Tensor in = test::tensor_with({kRows, kCols}, DType::f32, values, "in");
  Tensor seed = seed_tensor(ctx, 12345);
  Tensor out = make_tensor(ctx, DType::f32, {kRows, kCols}, "out");
  vk::Recorder rec(ctx);
  ops::dropout(rec, out, in, {p, 3, &seed}, false);
  rec.run();
  auto got = read_floats(ctx, out);
  float scale = float(1.0 / (1.0 - double(p)));
  size_t zeros = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool keep = ops::dropout_keeps(12345, 3, i, p);
    zeros += !keep;
    // The host's decision is the kernel's; a kept element is one f32 product, as on the host.
    ASSERT_EQ(got[i], keep ? values[i] * scale : 0.0f) << i;
  }
  double n = double(got.size()), standard_error = std::sqrt(p * (1 - p) / n);
  // Within 4 standard errors (about 0.09 percentage points here) of p.
  EXPECT_NEAR(double(zeros) / n, p, 4 * standard_error);
}

TEST(LoraDropout, SaltsAndSeedsGiveTheirOwnMasks) {
  auto& ctx = test::context();
  const float p = 0.1f;
  Tensor in = test::tensor_with({kRows, kCols}, DType::f32,
                                test::random_values(size_t(kRows * kCols), 2), "in");
  auto base = gpu_mask(ctx, in, 7, 0, p);
  EXPECT_EQ(gpu_mask(ctx, in, 7, 0, p), base);
  // Independent masks disagree on 2 p (1 - p) = 18% of elements; 1% off is > 10 standard errors.
  for (auto other : {gpu_mask(ctx, in, 7, 1, p), gpu_mask(ctx, in, 8, 0, p),
                     gpu_mask(ctx, in, -7, 0, p), gpu_mask(ctx, in, 7, 1u << 31, p)})
    EXPECT_NEAR(fraction_differing(base, other), 2 * p * (1 - p), 0.01);
}

TEST(LoraDropout, ReplayReadsTheSeedFromTheDevice) {
  auto& ctx = test::context();
  const float p = 0.25f;
  auto values = test::random_values(5000, 3);
  Tensor in = test::tensor_with({5000}, DType::f32, values, "in");
  Tensor seed = seed_tensor(ctx, 1);
  Tensor out = make_tensor(ctx, DType::f32, {5000}, "out");
  vk::Recorder rec(ctx);
  ops::dropout(rec, out, in, {p, 9, &seed}, false);
  std::vector<std::vector<bool>> masks;
  for (int32_t step : {1, 2, 1}) {
    write_ints(ctx, seed, std::vector<int32_t>{step});
    rec.run();
    masks.push_back(dropped(read_floats(ctx, out)));
    for (size_t i = 0; i < values.size(); ++i)
      ASSERT_EQ(masks.back()[i], !ops::dropout_keeps(step, 9, i, p)) << "step " << step << " " << i;
  }
  EXPECT_NE(masks[0], masks[1]);
  EXPECT_EQ(masks[0], masks[2]);
}

class LoraDropoutTypes : public testing::TestWithParam<DType> {};

TEST_P(LoraDropoutTypes, AccumulatesLikeTheReference) {
  auto& ctx = test::context();
  DType dt = GetParam();
  auto values = test::random_values(10007, 4, dt), start = test::random_values(10007, 5, dt);
  Tensor in = test::tensor_with({10007}, dt, values, "in");
  Tensor out = test::tensor_with({10007}, dt, start, "out");
  Tensor seed = seed_tensor(ctx, 77);
  vk::Recorder rec(ctx);
  ops::dropout(rec, out, in, {0.3f, 4, &seed}, true);
  rec.run();
  auto want = reference::dropout(values, {1.0, 0.3f, 4, 77});
  for (size_t i = 0; i < want.size(); ++i) want[i] += start[i];
  // f32 math, then one rounding to the storage type.
  double tolerance = dt == DType::f32 ? 1e-6 : dt == DType::f16 ? 1e-3 : 4e-3;
  EXPECT_LT(test::relative_error(read_floats(ctx, out), want), tolerance);
}

INSTANTIATE_TEST_SUITE_P(Types, LoraDropoutTypes,
                         testing::Values(DType::f32, DType::f16, DType::bf16));

TEST(LoraDropout, MaskDoesNotDependOnSpans) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // a few rows per span
  vk::Context ctx(options);
  const float p = 0.5f;
  auto values = test::random_values(97 * 101, 6, DType::bf16);
  Tensor in = test::tensor_with({97, 101}, DType::bf16, values, "in", ctx);
  ASSERT_GT(in.memory.spans().size(), 1u);
  auto mask = gpu_mask(ctx, in, 5, 6, p);
  for (size_t i = 0; i < mask.size(); ++i) ASSERT_EQ(mask[i], !ops::dropout_keeps(5, 6, i, p)) << i;
}

TEST(LoraDropoutErrors, BadSettingsAreNamed) {
  auto& ctx = test::context();
  Tensor in = make_tensor(ctx, DType::f32, {4, 6}, "activations");
  Tensor out = make_tensor(ctx, DType::f32, {4, 6}, "dropped");
  Tensor small = make_tensor(ctx, DType::f32, {4, 5}, "too small");
  Tensor seed = seed_tensor(ctx, 1);
  Tensor float_seed = make_tensor(ctx, DType::f32, {1}, "float seed");
  vk::Recorder rec(ctx);
  auto message = [&](Tensor& o, float p, const Tensor* s) {
    return test::error_message([&] { ops::dropout(rec, o, in, {p, 0, s}, false); });
  };
  EXPECT_NE(message(out, 1.0f, &seed).find("[dropout] the dropout probability must be in [0, 1)"),
            std::string::npos);
  EXPECT_NE(message(out, -0.1f, &seed).find("probability"), std::string::npos);
  EXPECT_NE(message(out, 0.1f, nullptr).find("needs a seed"), std::string::npos);
  EXPECT_NE(message(out, 0.1f, &float_seed).find("float seed"), std::string::npos);
  EXPECT_NE(message(small, 0.1f, &seed).find("too small"), std::string::npos);
}

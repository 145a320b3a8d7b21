#include <gtest/gtest.h>

#include <cmath>

#include "base/error.hpp"
#include "ops/rope.hpp"
#include "reference/rope.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace rope_test {
namespace {

struct Case {
  const char* name;
  int64_t tokens, heads, dim;
  int32_t max_position;  // positions run up to here; packed sequences restart at 0
};

// Results are rounded once to the activation dtype (half an ulp: 2^-11 for f16, 2^-8 for bf16,
// doubled for margin). In f32, sin and cos are within 2 ulps and the rotation adds two products
// (~1e-7 seen).
double tolerance(DType dt) { return dt == DType::f32 ? 1e-6 : dt == DType::f16 ? 1e-3 : 8e-3; }

// Token t of a batch of packed sequences, each `length` long: positions restart at 0.
std::vector<int32_t> packed_positions(int64_t tokens, int32_t length, int32_t stride = 1) {
  std::vector<int32_t> positions(static_cast<size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) positions[size_t(t)] = int32_t(t % length) * stride;
  return positions;
}

Tensor positions_tensor(vk::Context& ctx, const std::vector<int32_t>& positions,
                        const char* name = "positions") {
  Tensor t = make_tensor(ctx, DType::i32, {int64_t(positions.size())}, name);
  write_ints(ctx, t, positions);
  return t;
}

// Forward (out of place and in place) and backward (adding into random dx, and writing over
// other random values) against the reference.
void check(vk::Context& ctx, DType dt, const Case& c) {
  std::vector<int64_t> shape = {c.tokens, c.heads, c.dim};
  size_t n = size_t(c.tokens * c.heads * c.dim);
  // Positions up to max_position over sequences of a third of the tokens, so some restart.
  int32_t length = int32_t(std::max<int64_t>(c.tokens / 3, 1));
  auto positions = packed_positions(c.tokens, length, std::max(1, c.max_position / length));
  auto inv_freq = ops::rope_inverse_frequencies(uint32_t(c.dim), 10000.0);
  auto x = test::random_values(n, 1, dt), dy = test::random_values(n, 2, dt);
  auto dx_start = test::random_values(n, 3, dt);
  Tensor tx = test::tensor_with(shape, dt, x, "x", ctx);
  Tensor in_place = test::tensor_with(shape, dt, x, "x in place", ctx);
  Tensor tdy = test::tensor_with(shape, dt, dy, "dy", ctx);
  Tensor tdx = test::tensor_with(shape, dt, dx_start, "dx", ctx);
  Tensor written = test::tensor_with(shape, dt, test::random_values(n, 4, dt), "dx written", ctx);
  Tensor y = make_tensor(ctx, dt, shape, "y");
  Tensor tpos = positions_tensor(ctx, positions);
  Tensor tfreq = test::tensor_with({c.dim / 2}, DType::f32, inv_freq, "inv_freq", ctx);
  vk::Recorder rec(ctx);
  ops::rope_forward(rec, y, tx, tpos, tfreq);
  ops::rope_forward(rec, in_place, in_place, tpos, tfreq);
  ops::rope_backward(rec, tdx, tdy, tpos, tfreq);
  ops::rope_backward(rec, written, tdy, tpos, tfreq, ops::GradientStore::write);
  rec.run();
  std::vector<double> want_y, want_dx(dx_start.begin(), dx_start.end()), want_written(n, 0.0);
  reference::rope_forward(want_y, x, positions, inv_freq, size_t(c.heads));
  reference::rope_backward(want_dx, dy, positions, inv_freq, size_t(c.heads));
  reference::rope_backward(want_written, dy, positions, inv_freq, size_t(c.heads));
  EXPECT_LT(test::relative_error(read_floats(ctx, y), want_y), tolerance(dt));
  EXPECT_EQ(read_floats(ctx, in_place), read_floats(ctx, y));
  EXPECT_LT(test::relative_error(read_floats(ctx, tdx), want_dx), tolerance(dt));
  EXPECT_LT(test::relative_error(read_floats(ctx, written), want_written), tolerance(dt));
}

}  // namespace

class Rope : public testing::TestWithParam<std::tuple<DType, Case>> {};

TEST_P(Rope, ForwardAndBackwardMatchTheReference) {
  auto [dt, c] = GetParam();
  check(test::context(), dt, c);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Rope,
    testing::Combine(testing::Values(DType::f32, DType::f16, DType::bf16),
                     testing::Values(Case{"tokens37_heads3_D64", 37, 3, 64, 4000},
                                     Case{"tokens50_heads2_D10", 50, 2, 10, 50},
                                     Case{"tokens5_heads1_D2", 5, 1, 2, 5},
                                     // angles up to 131072: the kernel's own range reduction
                                     Case{"long_context_D128", 40, 2, 128, 131072})),
    [](const auto& info) {
      const Case& c = std::get<1>(info.param);
      return fmt::format("{}_{}", dtype_name(std::get<0>(info.param)), c.name);
    });

TEST(RopeChunked, TensorsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 10000;  // 39 heads of 64 f32 per span: spans end inside tokens
  vk::Context ctx(options);
  check(ctx, DType::f32, Case{"chunked", 100, 4, 64, 1000});
}

// L = sum(rope(x) * r) through the GPU forward: its gradient is the backward with dy = r.
TEST(RopeGradient, MatchesCentralDifferences) {
  auto& ctx = test::context();
  const int64_t tokens = 6, heads = 2, dim = 16;
  auto positions = packed_positions(tokens, 4, 7);
  auto inv_freq = ops::rope_inverse_frequencies(uint32_t(dim), 10000.0);
  auto x = test::random_values(size_t(tokens * heads * dim), 4);
  auto r = test::random_values(x.size(), 5);
  Tensor tx = test::tensor_with({tokens, heads, dim}, DType::f32, x, "x");
  Tensor tr = test::tensor_with({tokens, heads, dim}, DType::f32, r, "r");
  Tensor y = make_tensor(ctx, DType::f32, {tokens, heads, dim}, "y");
  Tensor dx = make_tensor(ctx, DType::f32, {tokens, heads, dim}, "dx");
  Tensor tpos = positions_tensor(ctx, positions);
  Tensor tfreq = test::tensor_with({dim / 2}, DType::f32, inv_freq, "inv_freq");
  vk::Recorder forward(ctx);
  ops::rope_forward(forward, y, tx, tpos, tfreq);
  vk::Recorder backward(ctx);
  ops::rope_backward(backward, dx, tr, tpos, tfreq, ops::GradientStore::write);
  backward.run();
  auto grad = read_floats(ctx, dx);
  auto loss = [&] {
    write_floats(ctx, tx, x);
    forward.run();
    return test::dot(read_floats(ctx, y), r);
  };
  // L is linear in x: central differences are exact up to the f32 rounding of the two changed
  // outputs (~1e-7 each, over 2 eps = 2e-2; 1.2e-6 seen).
  for (size_t i : test::sample_indices(x.size(), 8, 6))
    EXPECT_NEAR(grad[i], test::central_difference(x, i, 1e-2f, loss), 2e-5) << "element " << i;
}

TEST(RopeFrequencies, DefaultMatchesThetaPowers) {
  // Qwen3: theta 1e6, head_dim 128. f32 rounding of the exponent, powf and the reciprocal.
  auto got = ops::rope_inverse_frequencies(128, 1e6);
  auto want = reference::rope_inverse_frequencies(128, 1e6);
  ASSERT_EQ(got.size(), 64u);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 4e-7 * want[i]) << i;
  // By hand: theta^0 = 1, theta^(-2/128) = 10^(-6/64), theta^(-126/128) = 10^(-6 * 63/64).
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_NEAR(got[1], 0.8058421877614819, 1e-7);
  EXPECT_NEAR(got[63], 1.2409377607517195e-06, 1e-12);
}

TEST(RopeFrequencies, Llama3ScalingOfLlama32) {
  // Llama-3.2-1B: theta 500000, head_dim 64, factor 32, low 1, high 4, original 8192.
  ops::RopeScaling scaling{ops::RopeScalingType::llama3, 32.0f, 1.0f, 4.0f, 8192.0f};
  auto got = ops::rope_inverse_frequencies(64, 500000.0, scaling);
  auto want = reference::rope_llama3_scaling(reference::rope_inverse_frequencies(64, 500000.0),
                                             32.0, 1.0, 4.0, 8192.0);
  ASSERT_EQ(got.size(), 32u);
  // f32 operations (each half an ulp) against double; no wavelength lies near a band edge.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6 * want[i]) << i;
  // By hand. i = 14: wavelength 2 pi 500000^(28/64) = 1956 < 8192 / 4: kept, 500000^(-28/64).
  EXPECT_NEAR(got[14], 0.003211445994752591, 1e-9);
  // i = 16: f = 500000^(-1/2) = 1 / sqrt(500000), wavelength 2 pi sqrt(500000) = 4442.9 in the
  // band [2048, 8192]: smooth = (8192 / 4442.9 - 1) / 3 = 0.28128, f ((1 - smooth) / 32 + smooth).
  EXPECT_NEAR(got[16], 0.00042955679655936815, 1e-10);
  // i = 31: wavelength 2.08e6 > 8192: 500000^(-62/64) / 32.
  EXPECT_NEAR(got[31], 9.41830672543491e-08, 1e-13);
}

TEST(RopeFrequencies, LinearScalingDividesByTheFactor) {
  // Gemma-3 (4B and up), global layers: theta 1e6, head_dim 256, linear factor 8.
  ops::RopeScaling scaling{ops::RopeScalingType::linear, 8.0f};
  auto got = ops::rope_inverse_frequencies(256, 1e6, scaling);
  auto want = reference::rope_inverse_frequencies(256, 1e6);
  ASSERT_EQ(got.size(), 128u);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i] / 8, 4e-7 * want[i] / 8) << i;
  EXPECT_EQ(got[0], 0.125f);
  EXPECT_NEAR(got[1], 0.11221089155591428, 1e-8);  // 10^(-6 * 2/256) / 8
}

TEST(RopeErrors, BadInputsAreNamed) {
  auto& ctx = test::context();
  Tensor x = make_tensor(ctx, DType::f32, {5, 2, 8}, "q");
  Tensor y = make_tensor(ctx, DType::f32, {5, 2, 8}, "q rotated");
  Tensor odd = make_tensor(ctx, DType::f32, {5, 2, 7}, "odd heads");
  Tensor freq = make_tensor(ctx, DType::f32, {4}, "inv_freq");
  Tensor long_freq = make_tensor(ctx, DType::f32, {8}, "long inv_freq");
  Tensor positions = make_tensor(ctx, DType::i32, {5}, "positions");
  Tensor short_positions = make_tensor(ctx, DType::i32, {4}, "short positions");
  Tensor float_positions = make_tensor(ctx, DType::f32, {5}, "float positions");
  vk::Recorder rec(ctx);
  auto expect_error = [](const std::string& text, const std::function<void()>& action) {
    auto message = test::error_message(action);
    EXPECT_NE(message.find(text), std::string::npos) << message;
  };
  expect_error("short positions", [&] { ops::rope_forward(rec, y, x, short_positions, freq); });
  expect_error("float positions", [&] { ops::rope_forward(rec, y, x, float_positions, freq); });
  expect_error("long inv_freq", [&] { ops::rope_forward(rec, y, x, positions, long_freq); });
  expect_error("odd heads", [&] { ops::rope_forward(rec, odd, odd, positions, freq); });
  expect_error("must not be dy", [&] { ops::rope_backward(rec, x, x, positions, freq); });
  expect_error("head_dim", [] { ops::rope_inverse_frequencies(7, 10000.0); });
  expect_error("'yarn'", [] { ops::rope_scaling_type_from_name("yarn"); });
}

}  // namespace rope_test

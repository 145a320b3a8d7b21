#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>

#include "base/error.hpp"
#include "ops/elementwise.hpp"
#include "ops/rmsnorm.hpp"
#include "reference/rmsnorm.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace rmsnorm_test {
namespace {

constexpr float kEps = 1e-6f;

struct Case {
  const char* name;
  std::vector<int64_t> shape;  // the last dimension is C, the weight's length
  float offset;                // 0: Llama/Qwen, 1: Gemma
};

// y and dx are rounded once to the activation dtype (half an ulp: 2^-11 for f16, 2^-8 for
// bf16, taken twice for margin). In f32 what remains is the f32 sum of squares and inversesqrt
// (~2e-7 seen), and for C = 1 the cancellation in dx = rstd g dy (1 - rstd^2 x^2) (6e-7 seen).
double tolerance(DType dt) { return dt == DType::f32 ? 2e-6 : dt == DType::f16 ? 1e-3 : 8e-3; }

uint64_t numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

// Forward (rstd saved) and backward (adding into random dx, dw; and writing over another random
// dx, adding into another dw) against the reference.
void check(vk::Context& ctx, DType dt, const std::vector<int64_t>& shape, float offset) {
  size_t n = numel(shape), cols = size_t(shape.back()), rows = n / cols;
  auto x = test::random_values(n, 1, dt), dy = test::random_values(n, 2, dt);
  auto dx_start = test::random_values(n, 3, dt);
  auto w = test::random_values(cols, 4), dw_start = test::random_values(cols, 5);
  Tensor tx = test::tensor_with(shape, dt, x, "x", ctx);
  Tensor tdy = test::tensor_with(shape, dt, dy, "dy", ctx);
  Tensor tdx = test::tensor_with(shape, dt, dx_start, "dx", ctx);
  Tensor tw = test::tensor_with({int64_t(cols)}, DType::f32, w, "w", ctx);
  Tensor tdw = test::tensor_with({int64_t(cols)}, DType::f32, dw_start, "dw", ctx);
  Tensor written = test::tensor_with(shape, dt, test::random_values(n, 6, dt), "dx written", ctx);
  Tensor written_dw = test::tensor_with({int64_t(cols)}, DType::f32, dw_start, "dw 2", ctx);
  Tensor ty = make_tensor(ctx, dt, shape, "y");
  Tensor trstd = make_tensor(ctx, DType::f32, {int64_t(rows)}, "rstd");
  ops::RmsnormOptions options{kEps, offset};
  vk::Recorder rec(ctx);
  ops::rmsnorm_forward(rec, ty, &trstd, tx, tw, options);
  ops::rmsnorm_backward(rec, tdx, &tdw, tdy, tx, tw, trstd, options);
  ops::rmsnorm_backward(rec, written, &written_dw, tdy, tx, tw, trstd, options,
                        ops::GradientStore::write);
  rec.run();
  std::vector<double> y, rstd, dx(dx_start.begin(), dx_start.end());
  std::vector<double> dw(dw_start.begin(), dw_start.end());
  reference::rmsnorm_forward(y, rstd, x, w, cols, kEps, offset);
  reference::rmsnorm_backward(dx, dw, dy, x, w, cols, kEps, offset);
  EXPECT_LT(test::relative_error(read_floats(ctx, ty), y), tolerance(dt));
  // f32 inversesqrt (2 ulps) of an f32 sum of squares.
  EXPECT_LT(test::relative_error(read_floats(ctx, trstd), rstd), 1e-6);
  EXPECT_LT(test::relative_error(read_floats(ctx, tdx), dx), tolerance(dt));
  // Inputs are exact in their dtype: dw is f32 sums of f32 products whatever the dtype, in
  // chunks of at most 64 rows and then column_sum's (~2e-7 seen).
  EXPECT_LT(test::relative_error(read_floats(ctx, tdw), dw), 2e-6);
  // Written: the gradient alone, whatever dx held; dw added all the same. Measured on the scale
  // of the added case (written + dx_start against dx): at C = 1 the gradient alone cancels to
  // ~eps (see tolerance()).
  auto got_written = read_floats(ctx, written);
  for (size_t i = 0; i < n; ++i) got_written[i] += dx_start[i];
  EXPECT_LT(test::relative_error(got_written, dx), tolerance(dt));
  EXPECT_EQ(read_floats(ctx, written_dw), read_floats(ctx, tdw));
}

}  // namespace

class Rmsnorm : public testing::TestWithParam<std::tuple<DType, Case>> {};

TEST_P(Rmsnorm, ForwardAndBackwardMatchTheReference) {
  auto [dt, c] = GetParam();
  check(test::context(), dt, c.shape, c.offset);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Rmsnorm,
    testing::Combine(testing::Values(DType::f32, DType::f16, DType::bf16),
                     testing::Values(Case{"rows37_C1000", {37, 1000}, 0.0f},
                                     Case{"rows300_C64_gemma", {300, 64}, 1.0f},
                                     Case{"rows9_C2050", {9, 2050}, 0.0f},
                                     Case{"rows11_C2048", {11, 2048}, 0.0f},
                                     Case{"per_head_5x16x128", {5, 16, 128}, 0.0f},
                                     Case{"C1", {5, 1}, 0.0f},
                                     // q_norm/k_norm: q [B, T, H, D] with w [D], H * D != D
                                     Case{"per_head_2x3x5x64", {2, 3, 5, 64}, 0.0f},
                                     Case{"per_head_gemma_2x7x3x48", {2, 7, 3, 48}, 1.0f})),
    [](const auto& info) {
      const Case& c = std::get<1>(info.param);
      return fmt::format("{}_{}", dtype_name(std::get<0>(info.param)), c.name);
    });

TEST(RmsnormChunked, TensorsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  // Spans of 18 rows of 1000 bf16 (9 in f32): x, dy, dx come in pieces of 18 rows, 5 chunks of
  // dw partials each, and the partials' spans of 9 rows cut some of those pieces again. (Many
  // more partials would split column_sum's own, which it takes as one span.)
  options.memory.max_span = 37000;
  vk::Context ctx(options);
  check(ctx, DType::bf16, {200, 1000}, 0.0f);
  check(ctx, DType::f32, {100, 1000}, 1.0f);
  check(ctx, DType::bf16, {3, 700, 64}, 1.0f);
}

TEST(RmsnormVariants, InPlaceAndWithoutRstdOrWeightGradient) {
  auto& ctx = test::context();
  auto x = test::random_values(23 * 130, 6), w = test::random_values(130, 7);
  auto dy = test::random_values(23 * 130, 8);
  Tensor tx = test::tensor_with({23, 130}, DType::f32, x, "x");
  Tensor in_place = test::tensor_with({23, 130}, DType::f32, x, "x in place");
  Tensor tw = test::tensor_with({130}, DType::f32, w, "w");
  Tensor tdy = test::tensor_with({23, 130}, DType::f32, dy, "dy");
  Tensor y = make_tensor(ctx, DType::f32, {23, 130}, "y");
  Tensor rstd = make_tensor(ctx, DType::f32, {23}, "rstd");
  Tensor dx = make_tensor(ctx, DType::f32, {23, 130}, "dx");
  Tensor dx_frozen = make_tensor(ctx, DType::f32, {23, 130}, "dx frozen w");
  Tensor dw = make_tensor(ctx, DType::f32, {130}, "dw");
  vk::Recorder rec(ctx);
  ops::fill(rec, dx, 0.0f);
  ops::fill(rec, dx_frozen, 0.0f);
  ops::fill(rec, dw, 0.0f);
  ops::rmsnorm_forward(rec, y, &rstd, tx, tw);
  ops::rmsnorm_forward(rec, in_place, nullptr, in_place, tw);
  ops::rmsnorm_backward(rec, dx, &dw, tdy, tx, tw, rstd);
  ops::rmsnorm_backward(rec, dx_frozen, nullptr, tdy, tx, tw, rstd);
  rec.run();
  // The same kernel and order of operations: the same bits.
  EXPECT_EQ(read_floats(ctx, in_place), read_floats(ctx, y));
  EXPECT_EQ(read_floats(ctx, dx_frozen), read_floats(ctx, dx));
}

class RmsnormAlignment : public testing::TestWithParam<DType> {};

// Rows that start at an odd element offset (views of a larger tensor) give the same bits as the
// same values at element 0, with and without the weight gradient (whose work the kernel then
// leaves out).
TEST_P(RmsnormAlignment, OddOffsetsGiveTheSameBitsAsAlignedRows) {
  auto& ctx = test::context();
  DType dt = GetParam();
  const int64_t rows = 37, cols = 64, n = rows * cols, offset = 3;
  auto x = test::random_values(n + offset, 16, dt), dy = test::random_values(n + offset, 17, dt);
  auto w = test::random_values(cols, 18);
  Tensor tw = test::tensor_with({cols}, DType::f32, w, "w");
  struct Run {
    std::vector<float> y, dx, dx_frozen, dw;
  };
  auto run = [&](int64_t first) {
    std::vector<Tensor> memory;
    for (auto [name, values] : {std::pair{"x", &x}, {"dy", &dy}, {"y", &x}, {"dx", &dy},
                                {"dx frozen", &dy}})
      memory.push_back(test::tensor_with({n + offset}, dt, *values, name));
    std::vector<Tensor> t;
    for (Tensor& m : memory) t.push_back(view(m, uint64_t(first), {rows, cols}, m.name));
    Tensor rstd = make_tensor(ctx, DType::f32, {rows}, "rstd");
    Tensor dw = make_tensor(ctx, DType::f32, {cols}, "dw");
    vk::Recorder rec(ctx);
    ops::fill(rec, dw, 0.0f);
    ops::rmsnorm_forward(rec, t[2], &rstd, t[0], tw);
    ops::rmsnorm_backward(rec, t[3], &dw, t[1], t[0], tw, rstd);
    ops::rmsnorm_backward(rec, t[4], nullptr, t[1], t[0], tw, rstd);
    rec.run();
    return Run{read_floats(ctx, t[2]), read_floats(ctx, t[3]), read_floats(ctx, t[4]),
               read_floats(ctx, dw)};
  };
  // The same values at element 0 (aligned) and at element 3 (not).
  std::rotate(x.begin(), x.begin() + offset, x.end());
  std::rotate(dy.begin(), dy.begin() + offset, dy.end());
  Run aligned = run(0);
  std::rotate(x.rbegin(), x.rbegin() + offset, x.rend());
  std::rotate(dy.rbegin(), dy.rbegin() + offset, dy.rend());
  Run odd = run(offset);
  EXPECT_EQ(odd.y, aligned.y);
  EXPECT_EQ(odd.dx, aligned.dx);
  EXPECT_EQ(odd.dx_frozen, aligned.dx);
  EXPECT_EQ(aligned.dx_frozen, aligned.dx);
  EXPECT_EQ(odd.dw, aligned.dw);
}

INSTANTIATE_TEST_SUITE_P(Types, RmsnormAlignment,
                         testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(RmsnormDeterminism, WeightGradientHasTheSameBitsEveryRun) {
  auto& ctx = test::context();
  const int64_t rows = 3001, cols = 77;
  auto x = test::random_values(rows * cols, 9), dy = test::random_values(rows * cols, 10);
  Tensor tx = test::tensor_with({rows, cols}, DType::f32, x, "x");
  Tensor tdy = test::tensor_with({rows, cols}, DType::f32, dy, "dy");
  Tensor tw = test::tensor_with({cols}, DType::f32, test::random_values(cols, 11), "w");
  Tensor y = make_tensor(ctx, DType::f32, {rows, cols}, "y");
  Tensor rstd = make_tensor(ctx, DType::f32, {rows}, "rstd");
  Tensor dx = make_tensor(ctx, DType::f32, {rows, cols}, "dx");
  Tensor dw = make_tensor(ctx, DType::f32, {cols}, "dw");
  vk::Recorder rec(ctx);
  ops::rmsnorm_forward(rec, y, &rstd, tx, tw);
  ops::fill(rec, dx, 0.0f);
  ops::fill(rec, dw, 0.0f);
  ops::rmsnorm_backward(rec, dx, &dw, tdy, tx, tw, rstd);
  std::vector<float> first;
  for (int run = 0; run < 3; ++run) {  // the recording zeroes dw before each backward
    rec.run();
    auto sums = read_floats(ctx, dw);
    if (run == 0) first = sums;
    EXPECT_EQ(std::memcmp(sums.data(), first.data(), first.size() * 4), 0) << "run " << run;
  }
}

// L = sum(y * r) through the GPU forward: its gradients are the backward with dy = r.
TEST(RmsnormGradient, MatchesCentralDifferences) {
  auto& ctx = test::context();
  for (float offset : {0.0f, 1.0f}) {
    SCOPED_TRACE(fmt::format("offset {}", offset));
    const int64_t rows = 5, cols = 67;
    auto x = test::random_values(rows * cols, 12), w = test::random_values(cols, 13);
    auto r = test::random_values(rows * cols, 14);
    Tensor tx = test::tensor_with({rows, cols}, DType::f32, x, "x");
    Tensor tw = test::tensor_with({cols}, DType::f32, w, "w");
    Tensor tr = test::tensor_with({rows, cols}, DType::f32, r, "r");
    Tensor y = make_tensor(ctx, DType::f32, {rows, cols}, "y");
    Tensor rstd = make_tensor(ctx, DType::f32, {rows}, "rstd");
    Tensor dx = make_tensor(ctx, DType::f32, {rows, cols}, "dx");
    Tensor dw = make_tensor(ctx, DType::f32, {cols}, "dw");
    ops::RmsnormOptions options{kEps, offset};
    vk::Recorder forward(ctx);
    ops::rmsnorm_forward(forward, y, &rstd, tx, tw, options);
    forward.run();
    vk::Recorder backward(ctx);
    ops::fill(backward, dw, 0.0f);
    ops::rmsnorm_backward(backward, dx, &dw, tr, tx, tw, rstd, options,
                          ops::GradientStore::write);
    backward.run();
    auto loss = [&] {
      write_floats(ctx, tx, x);
      write_floats(ctx, tw, w);
      forward.run();
      return test::dot(read_floats(ctx, y), r);
    };
    // eps 1e-2: truncation (eps^2 times third derivatives of order 1) and f32 noise in L
    // (~1e-6 / 2 eps) stay near 1e-5 to 1e-4 (4e-5 seen), against gradients of order 1.
    for (auto [values, grad] :
         {std::pair{&x, read_floats(ctx, dx)}, std::pair{&w, read_floats(ctx, dw)}}) {
      for (size_t i : test::sample_indices(values->size(), 6, 15)) {
        double numeric = test::central_difference(*values, i, 1e-2f, loss);
        EXPECT_NEAR(grad[i], numeric, 2e-4 * std::max(1.0, std::fabs(numeric))) << "element " << i;
      }
    }
  }
}

TEST(RmsnormErrors, BadShapesAreNamed) {
  auto& ctx = test::context();
  Tensor x = make_tensor(ctx, DType::f32, {4, 6}, "activations");
  Tensor y = make_tensor(ctx, DType::f32, {4, 6}, "normed");
  Tensor w = make_tensor(ctx, DType::f32, {6}, "w");
  Tensor short_w = make_tensor(ctx, DType::f32, {5}, "short weight");
  Tensor rstd = make_tensor(ctx, DType::f32, {4}, "rstd");
  Tensor bad_rstd = make_tensor(ctx, DType::f32, {6}, "rstd per column");
  Tensor bad_dw = make_tensor(ctx, DType::f32, {4}, "dw per row");
  Tensor half_y = make_tensor(ctx, DType::f16, {4, 6}, "f16 y");
  vk::Recorder rec(ctx);
  auto expect_error = [](const std::string& text, const std::function<void()>& action) {
    auto message = test::error_message(action);
    EXPECT_NE(message.find(text), std::string::npos) << message;
  };
  expect_error("short weight", [&] { ops::rmsnorm_forward(rec, y, &rstd, x, short_w); });
  expect_error("rstd per column", [&] { ops::rmsnorm_forward(rec, y, &bad_rstd, x, w); });
  expect_error("f16 y", [&] { ops::rmsnorm_forward(rec, half_y, &rstd, x, w); });
  expect_error("dw per row", [&] { ops::rmsnorm_backward(rec, y, &bad_dw, x, x, w, rstd); });
  expect_error("[rmsnorm_backward] the weight short weight",
               [&] { ops::rmsnorm_backward(rec, y, nullptr, x, x, short_w, rstd); });
}

}  // namespace rmsnorm_test

#include <gtest/gtest.h>

#include <fmt/format.h>

#include "ops/moe_matmul.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::MoeMatmulOptions;
using ops::MoeMatmulVariant;
using ops::MoeWeightBand;

namespace {

// Expert row ranges: an empty expert, one expert with three tiles of rows and a partial one,
// single rows, and 3 rows past offsets[E] (a corrupt id's bucket) that no product may touch.
const std::vector<int32_t> kOffsets = {0, 37, 37, 38, 181, 185};
constexpr size_t kS = 188, kE = 5, kR = 90, kQ = 67;

// S grouped rows over E experts (offsets [E + 1]), w [E, R, Q], and the bands to test.
struct Layout {
  std::vector<int32_t> offsets;
  size_t S, R, Q;
  std::vector<MoeWeightBand> bands;
  size_t experts() const { return offsets.size() - 1; }
};

// Odd sizes: every load and store clamped. The whole weight and its second half as a band (the
// up half of a fused gate_up_proj).
const Layout kOdd{kOffsets, kS, kR, kQ, {{0, kR}, {45, 45}}};
// 16-byte aligned rows (the coopmat2 kernel's unclamped loads and stores): tiles inside an
// expert, tiles running on into the next expert's rows (one of a single row), the last tiles of
// S, a K tail after whole steps, N's edge, and a band starting 16 rows in.
const Layout kAligned{{0, 150, 150, 151, 290, 296}, 300, 144, 136, {{16, 128}}};

struct Products {
  std::vector<float> y, dx, dw;
};

// y = x w[e]^T on the band, dx = dy w[e] on the band, dw (band) += dy^T x, in one recording.
Products run_products(const Layout& l, MoeMatmulVariant variant, DType in, DType out,
                      MoeWeightBand band, const std::vector<float>& x, const std::vector<float>& w,
                      const std::vector<float>& dy, const std::vector<float>& y0,
                      const std::vector<float>& dw0) {
  auto& ctx = test::context();
  int64_t S = int64_t(l.S), N = int64_t(band.rows), Q = int64_t(l.Q), E = int64_t(l.experts());
  Tensor xt = test::tensor_with({S, Q}, in, x, "x");
  Tensor wt = test::tensor_with({E, int64_t(l.R), Q}, in, w, "w");
  Tensor dyt = test::tensor_with({S, N}, in, dy, "dy");
  Tensor y = test::tensor_with({S, N}, out, y0, "y");
  Tensor dx = test::tensor_with({S, Q}, out, std::vector<float>(l.S * l.Q, 0.5f), "dx");
  Tensor dw = test::tensor_with({E, int64_t(l.R), Q}, out, dw0, "dw");
  Tensor offsets = make_tensor(ctx, DType::i32, {E + 1}, "offsets");
  write_ints(ctx, offsets, l.offsets);
  vk::Recorder rec(ctx);
  ops::moe_matmul(rec, y, xt, wt, offsets, {.trans_w = true, .band = band, .variant = variant});
  ops::moe_matmul(rec, dx, dyt, wt, offsets,
                  {.trans_w = false, .alpha = 2.0f, .band = band, .variant = variant});
  ops::moe_matmul_weight(rec, dw, dyt, xt, offsets, 1.0f, 1.0f, band, variant);
  rec.run();
  return {read_floats(ctx, y), read_floats(ctx, dx), read_floats(ctx, dw)};
}

// w's band as its own [E, band rows, Q] weight, for the reference.
std::vector<float> band_of(const Layout& l, const std::vector<float>& w, MoeWeightBand band) {
  std::vector<float> out;
  for (size_t e = 0; e < l.experts(); ++e)
    out.insert(out.end(), w.begin() + ptrdiff_t((e * l.R + band.first) * l.Q),
               w.begin() + ptrdiff_t((e * l.R + band.first + band.rows) * l.Q));
  return out;
}

// The three products of `variant` on layout l against the reference, for each of its bands.
void check_products(const Layout& l, MoeMatmulVariant variant, DType in, DType out) {
  const size_t S = l.S, E = l.experts(), R = l.R, Q = l.Q, valid = size_t(l.offsets[E]);
  for (MoeWeightBand band : l.bands) {
    SCOPED_TRACE(fmt::format("S {} Q {} band {} + {}", S, Q, band.first, band.rows));
    size_t N = band.rows;
    auto x = test::random_values(S * Q, 51, in), w = test::random_values(E * R * Q, 52, in);
    auto dy = test::random_values(S * N, 53, in), y0 = test::random_values(S * N, 54, out);
    auto dw0 = test::random_values(E * R * Q, 55, out);
    Products got = run_products(l, variant, in, out, band, x, w, dy, y0, dw0);
    auto wb = band_of(l, w, band);
    auto y = reference::moe_matmul(x, wb, l.offsets, N, Q, true);
    auto dx = reference::moe_matmul(dy, wb, l.offsets, Q, N, false);
    for (double& v : dx) v *= 2.0;
    std::vector<double> dwb(E * N * Q, 0.0);
    reference::moe_matmul_weight(dwb, dy, x, l.offsets, N, Q);
    std::vector<double> dw(dw0.begin(), dw0.end());
    for (size_t e = 0; e < E; ++e)
      for (size_t i = 0; i < N * Q; ++i) dw[(e * R + band.first) * Q + i] += dwb[e * N * Q + i];
    // Rows past offsets[E] keep what they held.
    for (size_t p = valid * N; p < S * N; ++p) y[p] = y0[p];
    for (size_t p = valid * Q; p < S * Q; ++p) dx[p] = 0.5;
    // f32 sums over at most 150 products (in any order on cooperative matrices); 16-bit
    // outputs add one rounding.
    double tolerance = out == DType::f32 ? 1e-5 : out == DType::f16 ? 2e-3 : 8e-3;
    EXPECT_LT(test::relative_error(got.y, y), tolerance);
    EXPECT_LT(test::relative_error(got.dx, dx), tolerance);
    EXPECT_LT(test::relative_error(got.dw, dw), tolerance);
  }
}

}  // namespace

class MoeMatmulDtypes : public testing::TestWithParam<std::tuple<MoeMatmulVariant, DType, DType>> {
};

// Odd and aligned layouts. Where the device lacks a variant, the op's refusal says why.
TEST_P(MoeMatmulDtypes, ProductsMatchTheReference) {
  auto [variant, in, out] = GetParam();
  if (auto why = ops::moe_matmul_unavailable(test::context(), variant, in, out); !why.empty()) {
    auto message = test::error_message([&] {
      run_products(kOdd, variant, in, out, {0, kR}, std::vector<float>(kS * kQ, 1.0f),
                   std::vector<float>(kE * kR * kQ, 1.0f), std::vector<float>(kS * kR, 1.0f),
                   std::vector<float>(kS * kR, 1.0f), std::vector<float>(kE * kR * kQ, 1.0f));
    });
    EXPECT_NE(message.find("cannot run here: " + why), std::string::npos) << message;
    return;
  }
  check_products(kOdd, variant, in, out);
  check_products(kAligned, variant, in, out);
}

constexpr auto kPortable = MoeMatmulVariant::portable, kCoopmat = MoeMatmulVariant::coopmat,
               kCoopmat2 = MoeMatmulVariant::coopmat2;
INSTANTIATE_TEST_SUITE_P(
    Variants, MoeMatmulDtypes,
    // Portable: each input dtype and both kinds of output (the other two pairs build from the
    // same source and cost lavapipe seconds to compile). Cooperative matrices: every pair.
    testing::Values(std::tuple{kPortable, DType::f32, DType::f32},
                    std::tuple{kPortable, DType::f16, DType::f16},
                    std::tuple{kPortable, DType::bf16, DType::f32},
                    std::tuple{kCoopmat, DType::f16, DType::f32},
                    std::tuple{kCoopmat, DType::f16, DType::f16},
                    std::tuple{kCoopmat, DType::bf16, DType::f32},
                    std::tuple{kCoopmat, DType::bf16, DType::bf16},
                    std::tuple{kCoopmat2, DType::f16, DType::f32},
                    std::tuple{kCoopmat2, DType::f16, DType::f16},
                    std::tuple{kCoopmat2, DType::bf16, DType::f32},
                    std::tuple{kCoopmat2, DType::bf16, DType::bf16}),
    [](const auto& info) {
      return fmt::format("{}_{}_{}", ops::moe_matmul_variant_name(std::get<0>(info.param)),
                         dtype_name(std::get<1>(info.param)), dtype_name(std::get<2>(info.param)));
    });

// dx and dw against central differences of L = sum(y * r), y = x w[e]^T through the GPU.
TEST(MoeMatmulGradient, MatchesFiniteDifferences) {
  auto& ctx = test::context();
  MoeWeightBand band{0, kR};
  auto x = test::random_values(kS * kQ, 61), w = test::random_values(kE * kR * kQ, 62);
  auto r = test::random_values(kS * kR, 63);
  Tensor xt = make_tensor(ctx, DType::f32, {int64_t(kS), int64_t(kQ)}, "x");
  Tensor wt = make_tensor(ctx, DType::f32, {int64_t(kE), int64_t(kR), int64_t(kQ)}, "w");
  Tensor y = make_tensor(ctx, DType::f32, {int64_t(kS), int64_t(kR)}, "y");
  Tensor offsets = make_tensor(ctx, DType::i32, {int64_t(kE) + 1}, "offsets");
  write_ints(ctx, offsets, kOffsets);
  write_floats(ctx, y, std::vector<float>(kS * kR, 0.0f));
  vk::Recorder forward(ctx);
  ops::moe_matmul(forward, y, xt, wt, offsets);
  auto loss = [&] {
    write_floats(ctx, xt, x);
    write_floats(ctx, wt, w);
    forward.run();
    return test::dot(read_floats(ctx, y), r);
  };
  Products grads =
      run_products(kOdd, MoeMatmulVariant::automatic, DType::f32, DType::f32, band, x, w, r,
                   std::vector<float>(kS * kR, 0.0f), std::vector<float>(kE * kR * kQ, 0.0f));
  // Only rows of a valid expert carry a gradient; L is linear, so the differences are exact up
  // to f32 rounding of L (~1e-5 over 2 eps).
  for (size_t i : test::sample_indices(size_t(kOffsets[kE]) * kQ, 4, 64))
    EXPECT_NEAR(test::central_difference(x, i, 1e-2f, loss), grads.dx[i] / 2.0, 2e-3) << i;
  for (size_t i : test::sample_indices(kE * kR * kQ, 4, 65))
    EXPECT_NEAR(test::central_difference(w, i, 1e-2f, loss), grads.dw[i], 2e-3) << i;
}

TEST(MoeMatmulErrors, ShapesAreNamed) {
  auto& ctx = test::context();
  Tensor x = make_tensor(ctx, DType::bf16, {10, 8}, "x");
  Tensor w = make_tensor(ctx, DType::bf16, {3, 6, 8}, "w");
  Tensor y = make_tensor(ctx, DType::bf16, {10, 5}, "y");
  Tensor offsets = make_tensor(ctx, DType::i32, {4}, "offsets");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::moe_matmul(rec, y, x, w, offsets); });
  EXPECT_NE(message.find("y (bf16, [10, 5]) must be [S, 8] and [S, 6]"), std::string::npos)
      << message;
  message = test::error_message([&] { ops::moe_matmul(rec, y, x, w, offsets, {.band = {4, 5}}); });
  EXPECT_NE(message.find("the band of rows [4, 9) lies outside"), std::string::npos) << message;
  Tensor offsets5 = make_tensor(ctx, DType::i32, {5}, "offsets5");
  message = test::error_message([&] { ops::moe_matmul(rec, y, x, w, offsets5); });
  EXPECT_NE(message.find("offsets5 (i32, [5]) must have shape [4]"), std::string::npos) << message;
}

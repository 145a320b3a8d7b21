#include <gtest/gtest.h>

#include "base/error.hpp"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "reference/reference.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::MatmulVariant;

namespace {

struct Case {
  MatmulVariant variant;
  DType in, out;
  bool trans_a, trans_b;
};

std::string case_name(const testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  return fmt::format("{}_{}_{}_{}{}", ops::matmul_variant_name(c.variant), dtype_name(c.in),
                     dtype_name(c.out), c.trans_a ? "T" : "N", c.trans_b ? "T" : "N");
}

double tolerance(DType out) {
  // Inputs are exact in their dtype and the reference sums them in double: what remains is f32
  // accumulation, plus one rounding of C to its dtype.
  return out == DType::f32 ? 2e-6 * 33 : out == DType::f16 ? 1e-3 : 8e-3;
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      if (ta && tb) continue;  // NN, NT, TN
      for (DType in : {DType::f32, DType::f16, DType::bf16}) {
        cases.push_back({MatmulVariant::portable, in, DType::f32, ta, tb});
        if (in != DType::f32) cases.push_back({MatmulVariant::portable, in, in, ta, tb});
      }
      for (auto v : {MatmulVariant::coopmat, MatmulVariant::coopmat2})
        for (DType in : {DType::f16, DType::bf16})
          for (DType out : {DType::f32, in}) cases.push_back({v, in, out, ta, tb});
    }
  return cases;
}

// Runs C = alpha op(A) op(B) + beta C on `batch` matrices and checks it against the reference.
void check(vk::Context& ctx, const Case& c, reference::MatmulShape s, float alpha, float beta,
           uint32_t split_k = 0) {
  auto va = test::random_values(size_t(s.batch) * s.m * s.k, 21, c.in);
  auto vb = test::random_values(size_t(s.b_batch) * s.k * s.n, 22, c.in);
  auto vc = test::random_values(size_t(s.batch) * s.m * s.n, 23, c.out);
  int64_t z = s.batch;
  Tensor a = test::tensor_with(s.trans_a ? std::vector<int64_t>{z, s.k, s.m} : std::vector<int64_t>{z, s.m, s.k},
                               c.in, va, "A", ctx);
  Tensor b = test::tensor_with(s.trans_b ? std::vector<int64_t>{s.b_batch, s.n, s.k}
                                         : std::vector<int64_t>{s.b_batch, s.k, s.n},
                               c.in, vb, "B", ctx);
  Tensor out = test::tensor_with({z, s.m, s.n}, c.out, vc, "C", ctx);
  vk::Recorder rec(ctx);
  ops::MatmulOptions options{s.trans_a, s.trans_b, alpha, beta, c.variant, split_k};
  ops::matmul(rec, out, a, b, options);
  rec.run();
  std::vector<double> want(vc.begin(), vc.end());
  reference::matmul(want, va, vb, s, alpha, beta);
  EXPECT_LT(test::relative_error(read_floats(ctx, out), want), tolerance(c.out));
}

// C = alpha A op(B) + alpha2 A2 op(B2) + beta C (the addend: a LoRA branch, K2 its rank).
void check_addend(vk::Context& ctx, const Case& c, reference::MatmulShape s, uint32_t k2,
                  bool trans_b2) {
  reference::MatmulShape s2{1, 1, s.m, s.n, k2, false, trans_b2};
  auto va = test::random_values(size_t(s.m) * s.k, 31, c.in);
  auto vb = test::random_values(size_t(s.k) * s.n, 32, c.in);
  auto va2 = test::random_values(size_t(s.m) * k2, 33, c.in);
  auto vb2 = test::random_values(size_t(k2) * s.n, 34, c.in);
  auto vc = test::random_values(size_t(s.m) * s.n, 35, c.out);
  auto shape = [](bool trans, int64_t rows, int64_t cols) {
    return trans ? std::vector<int64_t>{cols, rows} : std::vector<int64_t>{rows, cols};
  };
  Tensor a = test::tensor_with(shape(s.trans_a, s.m, s.k), c.in, va, "A", ctx);
  Tensor b = test::tensor_with(shape(s.trans_b, s.k, s.n), c.in, vb, "B", ctx);
  Tensor a2 = test::tensor_with({s.m, k2}, c.in, va2, "A2", ctx);
  Tensor b2 = test::tensor_with(shape(trans_b2, k2, s.n), c.in, vb2, "B2", ctx);
  Tensor out = test::tensor_with({s.m, s.n}, c.out, vc, "C", ctx);
  vk::Recorder rec(ctx);
  ops::MatmulOptions options{s.trans_a, s.trans_b, 1.25f, 0.5f, c.variant};
  options.addend = {&a2, &b2, trans_b2, 2.0f};
  ops::matmul(rec, out, a, b, options);
  rec.run();
  std::vector<double> want(vc.begin(), vc.end());
  reference::matmul(want, va, vb, s, 1.25f, 0.5f);
  reference::matmul(want, va2, vb2, s2, 2.0f, 1.0f);
  EXPECT_LT(test::relative_error(read_floats(ctx, out), want), tolerance(c.out));
}

}  // namespace

class Matmul : public testing::TestWithParam<Case> {};

// Each variant either computes the right product on this device or, where the device or this
// build lacks it, refuses with one clear reason.
TEST_P(Matmul, MatchesTheReferenceOrSaysWhyNot) {
  auto& ctx = test::context();
  const Case& c = GetParam();
  reference::MatmulShape s{3, 1, 67, 45, 33, c.trans_a, c.trans_b};
  auto why = ops::matmul_unavailable(ctx, c.variant, c.in, c.out);
  if (!why.empty()) {
    auto message = test::error_message([&] { check(ctx, c, s, 1.0f, 0.0f); });
    EXPECT_NE(message.find("cannot run: " + why), std::string::npos) << message;
    return;
  }
  check(ctx, c, s, 1.0f, 0.0f);                  // B shared by every batch
  s.b_batch = 3;
  check(ctx, c, s, 1.5f, 0.5f);                  // batched B, alpha and beta
  check(ctx, c, {1, 1, 130, 129, 77, c.trans_a, c.trans_b}, 1.0f, 0.0f);  // > one tile

  // The shapes that pick other tiles or paths: LoRA-thin outputs (rank 16 on one side, or as
  // K), whole aligned tiles beside clamped edge tiles (coopmat2 loads the first unclamped), and
  // K cut into parts whose partial products a second kernel sums (split-K), with alpha, beta.
  bool ta = c.trans_a, tb = c.trans_b;
  check(ctx, c, {1, 1, 300, 16, 200, ta, tb}, 1.0f, 0.5f);   // thin N
  check(ctx, c, {1, 1, 16, 300, 200, ta, tb}, 1.0f, 0.5f);   // thin M
  check(ctx, c, {1, 1, 130, 77, 16, ta, tb}, 2.0f, 1.0f);    // K = a LoRA rank
  check(ctx, c, {1, 1, 260, 272, 192, ta, tb}, 1.0f, 0.0f);  // interior and edge tiles
  check(ctx, c, {1, 1, 37, 16, 390, ta, tb}, 1.5f, 0.5f, 3);  // split-K
  check(ctx, c, {1, 1, 16, 40, 512, ta, tb}, 1.0f, 0.0f, 4);
  // A LoRA branch added in the same pass: rank 16 (one step) and 20 (a clamped second step).
  check_addend(ctx, c, {1, 1, 150, 140, 96, ta, tb}, 16, true);
  check_addend(ctx, c, {1, 1, 150, 140, 96, ta, tb}, 20, false);
}

INSTANTIATE_TEST_SUITE_P(Variants, Matmul, testing::ValuesIn(all_cases()), case_name);

TEST(MatmulChunked, OperandsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // a few dozen rows per span
  vk::Context ctx(options);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      if (ta && tb) continue;
      SCOPED_TRACE(fmt::format("trans_a {} trans_b {}", ta, tb));
      check(ctx, {MatmulVariant::portable, DType::f32, DType::f32, ta, tb},
            {2, 2, 97, 101, 130, ta, tb}, 1.0f, 0.25f);
      check(ctx, {MatmulVariant::portable, DType::bf16, DType::f32, ta, tb},
            {2, 1, 97, 101, 130, ta, tb}, 1.0f, 0.0f);
    }
}

TEST(MatmulLarge, OperandOver128MiB) {
  auto& ctx = test::context();
  // B is 8200 x 4100 f32 = 134.5 MB, past lavapipe's 128 MiB storage-buffer range.
  check(ctx, {MatmulVariant::portable, DType::f32, DType::f32, false, false},
        {1, 1, 3, 4100, 8200, false, false}, 1.0f, 0.0f);
}

// K far past the ~20000 at which lavapipe's loop limiter silently stopped the K loop (the head's
// input gradient has K = the vocabulary): every variant the device runs, every transpose, a
// batch with beta, and a LoRA addend beside such a product.
TEST(MatmulLongK, PastTheDriversLoopLimit) {
  auto& ctx = test::context();
  for (const Case& c : all_cases()) {
    bool wanted = c.out == DType::f32 && (c.in != DType::f16 || c.variant != MatmulVariant::portable);
    if (!wanted || !ops::matmul_unavailable(ctx, c.variant, c.in, c.out).empty()) continue;
    SCOPED_TRACE(case_name(testing::TestParamInfo<Case>(c, 0)));
    check(ctx, c, {2, 1, 9, 20, 45001, c.trans_a, c.trans_b}, 1.0f, 0.5f);
    check_addend(ctx, c, {1, 1, 5, 24, 40000, c.trans_a, c.trans_b}, 16, true);
  }
}

TEST(MatmulErrors, ShapesThatDoNotFitAreNamed) {
  auto& ctx = test::context();
  Tensor a = make_tensor(ctx, DType::f32, {4, 5}, "x");
  Tensor b = make_tensor(ctx, DType::f32, {6, 7}, "w");
  Tensor c = make_tensor(ctx, DType::f32, {4, 7}, "y");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::matmul(rec, c, a, b); });
  EXPECT_NE(message.find("[matmul] shapes do not fit: A x (f32, [4, 5])"), std::string::npos)
      << message;
}

// The KHR kernel's fragments come from the device's list: 16x16x16 where listed, else a shape of
// sides 8 or 16 (lavapipe's 8x8x8), never one whose sides do not divide its subgroup tiles.
TEST(MatmulFragments, PickedFromTheDeviceList) {
  auto shape = [](uint32_t m, uint32_t n, uint32_t k, VkComponentTypeKHR ab) {
    return vk::CoopMatShape{m, n, k, ab, ab, VK_COMPONENT_TYPE_FLOAT32_KHR,
                            VK_COMPONENT_TYPE_FLOAT32_KHR, VK_SCOPE_SUBGROUP_KHR};
  };
  auto fragment = [](const vk::Capabilities& caps, DType in) {
    ops::CoopmatFragment f = ops::coopmat_khr_fragment(caps, in);
    return fmt::format("{}x{}x{}", f.m, f.n, f.k);
  };
  vk::Capabilities caps;
  caps.coopmat_khr = true;
  const auto f16 = VK_COMPONENT_TYPE_FLOAT16_KHR;
  caps.coopmat_khr_shapes = {shape(32, 8, 16, f16), shape(8, 8, 8, f16), shape(16, 16, 16, f16)};
  EXPECT_EQ(fragment(caps, DType::f16), "16x16x16");
  EXPECT_EQ(fragment(caps, DType::bf16), "0x0x0");
  caps.coopmat_khr_shapes.pop_back();
  EXPECT_EQ(fragment(caps, DType::f16), "8x8x8");
  const auto bf16 = VK_COMPONENT_TYPE_BFLOAT16_KHR;
  caps.coopmat_khr_shapes = {shape(32, 8, 16, f16), shape(16, 16, 16, bf16)};
  EXPECT_EQ(fragment(caps, DType::f16), "0x0x0");
  EXPECT_EQ(fragment(caps, DType::bf16), "16x16x16");
  caps.coopmat_khr = false;  // hidden (VKTRAIN_DISABLE=coopmat)
  EXPECT_EQ(fragment(caps, DType::bf16), "0x0x0");
}

// Kernels whose subgroups own tiles run at a size the pipeline can require, or at the device's
// only size; never at one the driver may pick otherwise (a device with a range, as Intel's 8 to
// 32 or RADV's 32 to 64, under VKTRAIN_DISABLE=subgroup-size-control).
TEST(SubgroupSizes, KernelsThatNeedOneRequireIt) {
  auto caps_with = [](uint32_t min, uint32_t max, uint32_t size, bool control) {
    vk::Capabilities caps;
    caps.name = "gpu";
    caps.subgroup_min = min;
    caps.subgroup_max = max;
    caps.subgroup_size = size;
    caps.subgroup_size_control = control;
    return caps;
  };
  auto radv = caps_with(32, 64, 64, true);
  EXPECT_EQ(ops::matmul_coopmat_subgroup(radv), 32u);
  EXPECT_EQ(ops::subgroup_size_unavailable(radv, 32), "");
  auto lavapipe = caps_with(8, 8, 8, true);
  EXPECT_EQ(ops::matmul_coopmat_subgroup(lavapipe), 8u);
  EXPECT_EQ(ops::subgroup_size_unavailable(lavapipe, 32),
            "'gpu' runs subgroups of 8 to 8 lanes, not 32");
  auto fixed = caps_with(32, 32, 32, false);
  EXPECT_EQ(ops::matmul_coopmat_subgroup(fixed), 32u);
  auto ranged = caps_with(8, 32, 32, false);
  EXPECT_EQ(ops::matmul_coopmat_subgroup(ranged), 0u);
  EXPECT_EQ(ops::subgroup_size_unavailable(ranged, 32),
            "'gpu' runs subgroups of 8 to 32 lanes and cannot require 32 (no "
            "VK_EXT_subgroup_size_control)");
}

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "base/error.hpp"
#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "ops/matmul.hpp"
#include "reference/reference.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {

using ops::MatmulVariant;
using ops::QuantizedRead;

// A product with a block-quantized weight W: forward y = x W^T (trans_b, W [N, K]) or backward
// dx = dy W (W [K, N]); `in` is A's dtype, `out` C's.
struct QuantCase {
  DType weight, in = DType::f32, out = DType::f32;
  bool trans_b = true;
  uint32_t m, n, k;
  float alpha = 1.0f, beta = 0.0f;
  uint32_t split_k = 0;
  MatmulVariant variant = MatmulVariant::portable;
  QuantizedRead read = QuantizedRead::automatic;
  uint64_t slab_bytes = 0;
};

std::string describe(const QuantCase& q) {
  return fmt::format("{} W, A {}, C {}, {} {}x{}x{}, alpha {} beta {} split_k {}, {}{}",
                     dtype_name(q.weight), dtype_name(q.in), dtype_name(q.out),
                     q.trans_b ? "x W^T" : "dy W", q.m, q.n, q.k, q.alpha, q.beta, q.split_k,
                     ops::matmul_variant_name(q.variant),
                     q.read == QuantizedRead::slabs ? fmt::format(", slabs of {} bytes", q.slab_bytes)
                     : q.read == QuantizedRead::fused ? ", fused" : "");
}

// Whether the case stages W in A's 16-bit type: the cooperative-matrix kernels and slabs (on a
// GPU automatic takes slabs for 16-bit A; MXFP4 always takes them).
bool stages_16_bit(const QuantCase& q) {
  return q.in != DType::f32 &&
         (q.variant == MatmulVariant::coopmat || q.variant == MatmulVariant::coopmat2 ||
          q.read == QuantizedRead::slabs || q.weight == DType::mxfp4 ||
          (q.read == QuantizedRead::automatic && test::context().caps().is_gpu()));
}

// The cooperative-matrix kernels stage W in A's 16-bit type: f16 holds no value past 65504, so
// their f16 cases take blocks that llama.cpp's quantizer makes of ordinary weights (bf16 ones the
// random blocks, extreme scales included). MXFP4 has no encoder, and its random blocks fit f16.
std::vector<std::byte> weight_blocks(const QuantCase& q, uint64_t rows, uint64_t cols) {
  uint32_t seed = q.m + q.n + q.k;
  if (!stages_16_bit(q) || q.in != DType::f16 || q.weight == DType::mxfp4)
    return test::random_blocks(q.weight, rows, cols, seed);
  return io::quantize(test::random_values(rows * cols, seed), io::ggml_type_of(q.weight));
}

// What staging W in A's type may change of each weight value w: one ulp of that type, as the
// driver's conversion may round toward zero (bf16 2^-7 |w|, f16 2^-10 |w|, or for f16
// subnormals a step of 2^-24); nothing where W stays f32.
struct WeightRounding {
  double relative = 0, absolute = 0;
};
WeightRounding weight_rounding(const QuantCase& q) {
  if (!stages_16_bit(q)) return {};
  if (q.in == DType::bf16) return {std::ldexp(1.0, -7), 0};
  return {std::ldexp(1.0, -10), std::ldexp(1.0, -24)};
}

std::vector<float> magnitudes(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

// Checks ops::matmul against the reference on io::dequantize's floats of the same blocks. Each
// element may differ from the double-precision sum by f32 summation over K (K units of 2^-24 of
// the sum of magnitudes), one rounding of C to its dtype (a whole ulp), and what staging W in a
// 16-bit type changes of each term (weight_rounding): the same math, another order.
void check(vk::Context& ctx, const QuantCase& q, const ops::MatmulAddend* addend = nullptr,
           const std::vector<float>* va2 = nullptr, const std::vector<float>* vb2 = nullptr) {
  SCOPED_TRACE(describe(q));
  reference::MatmulShape s{1, 1, q.m, q.n, q.k, false, q.trans_b};
  int64_t w_rows = q.trans_b ? q.n : q.k, w_cols = q.trans_b ? q.k : q.n;
  auto blocks = weight_blocks(q, uint64_t(w_rows), uint64_t(w_cols));
  auto w = io::dequantize(blocks, io::ggml_type_of(q.weight), uint64_t(w_rows * w_cols));
  auto va = test::random_values(size_t(q.m) * q.k, 41, q.in);
  auto vc = test::random_values(size_t(q.m) * q.n, 42, q.out);
  Tensor a = test::tensor_with({q.m, q.k}, q.in, va, "x", ctx);
  Tensor wt = make_tensor(ctx, q.weight, {w_rows, w_cols}, "W");
  write_bytes(ctx, wt, blocks);
  Tensor c = test::tensor_with({q.m, q.n}, q.out, vc, "y", ctx);
  vk::Recorder rec(ctx);
  ops::MatmulOptions options{false, q.trans_b, q.alpha, q.beta, q.variant};
  options.split_k = q.split_k;
  options.quantized_read = q.read;
  options.slab_bytes = q.slab_bytes;
  if (addend) options.addend = *addend;
  ops::matmul(rec, c, a, wt, options);
  rec.run();
  auto got = read_floats(ctx, c);

  std::vector<double> want(vc.begin(), vc.end()), bound(vc.size());
  for (size_t i = 0; i < vc.size(); ++i) bound[i] = std::fabs(vc[i]);
  reference::matmul(want, va, w, s, q.alpha, q.beta);
  reference::matmul(bound, magnitudes(va), magnitudes(w), s, std::fabs(q.alpha), std::fabs(q.beta));
  const WeightRounding staged = weight_rounding(q);
  std::vector<float> w_change = magnitudes(w);
  for (float& x : w_change) x = float(staged.relative * x + staged.absolute);
  std::vector<double> staging(vc.size());
  reference::matmul(staging, magnitudes(va), w_change, s, std::fabs(q.alpha), 0.0);
  if (addend) {
    reference::MatmulShape s2{1, 1, q.m, q.n, uint32_t(addend->a->cols()), false, addend->trans_b};
    reference::matmul(want, *va2, *vb2, s2, addend->alpha, 1.0);
    reference::matmul(bound, magnitudes(*va2), magnitudes(*vb2), s2, std::fabs(addend->alpha), 1.0);
  }
  const double unit = std::ldexp(1.0, -24) * (q.k + 4);
  // One ulp of C's dtype, not half: NVIDIA's coopmat2 store converts an f32 accumulator to bf16
  // toward zero (H100: -559k stored as -557056, two half-ulps below the nearest).
  const double rounding = q.out == DType::bf16  ? std::ldexp(1.0, -7)
                          : q.out == DType::f16 ? std::ldexp(1.0, -10)
                                                : 0;
  size_t wrong = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double error = std::fabs(got[i] - want[i]);
    double allowed = unit * bound[i] + rounding * std::fabs(want[i]) + staging[i];
    if (!(error <= allowed) && wrong++ < 5)
      ADD_FAILURE() << "element " << i << ": " << got[i] << ", want " << want[i] << " (error "
                    << error << ", allowed " << allowed << ")";
  }
  EXPECT_EQ(wrong, 0u);
}

}  // namespace

class MatmulQuantTypes : public testing::TestWithParam<DType> {};

// Each block type in both orientations of a LoRA step, at sizes no tile divides, with alpha and
// beta, and the M = 1 product of generation.
TEST_P(MatmulQuantTypes, BothOrientationsMatchTheDequantizedProduct) {
  auto& ctx = test::context();
  DType t = GetParam();
  uint32_t block = dtype_block(t).elements;
  check(ctx, {t, DType::f32, DType::f32, true, 37, 45, 2 * block, 1.0f, 0.0f});
  check(ctx, {t, DType::f32, DType::f32, false, 37, 3 * block, 45, 1.5f, 0.5f});
  check(ctx, {t, DType::f32, DType::f32, true, 1, 70, 3 * block});  // decode: one token
}

// The cooperative-matrix variants on each block type: both orientations at sizes no tile
// divides, whole aligned tiles beside edge tiles, split-K parts that start inside W's rows, f16
// and bf16 activations, C f32 or A's type; or, where the device or this build lacks the
// variant, one clear reason. A CPU driver (the coopmat CI lane's lavapipe) compiles each
// pipeline for seconds, so there every other type takes the forward orientation and the rest
// the backward one: the decode is the type's, the staging the orientation's.
TEST_P(MatmulQuantTypes, CoopmatVariantsMatchOrSayWhyNot) {
  auto& ctx = test::context();
  DType t = GetParam();
  uint32_t block = dtype_block(t).elements;
  auto types = test::block_types();
  bool forward_here = (std::find(types.begin(), types.end(), t) - types.begin()) % 2 == 0;
  bool forward = ctx.caps().is_gpu() || forward_here, backward = ctx.caps().is_gpu() || !forward_here;
  // MXFP4 has no fused kernels: its products take slabs whatever is asked.
  const QuantizedRead fused = t == DType::mxfp4 ? QuantizedRead::automatic : QuantizedRead::fused;
  for (auto v : {MatmulVariant::coopmat, MatmulVariant::coopmat2}) {
    for (DType in : {DType::f16, DType::bf16}) {
      DType out = in == DType::f16 ? DType::f32 : in;
      QuantCase first{t, in, out, true, 70, 45, 2 * block, 1.0f, 0.0f, 0, v, fused};
      if (auto why = ops::matmul_unavailable(ctx, v, in, out, t); !why.empty()) {
        auto message = test::error_message([&] { check(ctx, first); });
        EXPECT_NE(message.find("cannot run: " + why), std::string::npos) << message;
        continue;
      }
      if (forward) {
        check(ctx, first);
        check(ctx, {t, in, out, true, 40, 24, 4 * block, 1.0f, 0.5f, 2, v, fused});  // split-K parts
        // A LoRA branch beside the base product (coopmat2: in the same pass).
        auto va2 = test::random_values(size_t(70) * 16, 45, in);
        auto vb2 = test::random_values(size_t(16) * 45, 46, in);
        Tensor a2 = test::tensor_with({70, 16}, in, va2, "lora x A", ctx);
        Tensor b2 = test::tensor_with({45, 16}, in, vb2, "lora B", ctx);
        ops::MatmulAddend addend{&a2, &b2, true, 2.0f};
        check(ctx, first, &addend, &va2, &vb2);
      }
      if (backward) {
        check(ctx, {t, in, out, false, 70, block, 45, 1.5f, 0.5f, 0, v, fused});
        check(ctx, {t, in, out, false, 37, block, 64, 1.0f, 0.0f, 0, v, fused});  // aligned K
      }
    }
  }
}

// The decode step's kernel on each block type: x W^T for 1 to 8 rows of x, f32 and bf16
// activations, exact to the dequantized floats as the portable kernel; automatic takes it (or
// the portable kernel) for a few rows.
TEST_P(MatmulQuantTypes, VectorVariantMatchesOrSaysWhyNot) {
  auto& ctx = test::context();
  DType t = GetParam();
  uint32_t block = dtype_block(t).elements;
  QuantCase one{t, DType::f32, DType::f32, true, 1, 70, 3 * block, 1.0f, 0.0f, 0, MatmulVariant::vector};
  if (auto why = ops::matmul_unavailable(ctx, MatmulVariant::vector, DType::f32, DType::f32, t);
      !why.empty()) {
    auto message = test::error_message([&] { check(ctx, one); });
    EXPECT_NE(message.find("cannot run: " + why), std::string::npos) << message;
    return;
  }
  check(ctx, one);
  check(ctx, {t, DType::bf16, DType::bf16, true, 3, 45, 2 * block, 1.5f, 0.5f, 0, MatmulVariant::vector});
  check(ctx, {t, DType::f16, DType::f32, true, 8, 33, block, 1.0f, 1.0f, 0, MatmulVariant::vector});
  check(ctx, {t, DType::f32, DType::f32, true, 2, 20, 2 * block, 1.0f, 0.0f, 0, MatmulVariant::automatic});
}

// The kernels decode runs of 8 values (quant.glsl's quant_fetch / quant_unpack), not the one
// value at a time that the embedding gather checks: multiplying by an identity picks each
// decoded weight out alone (1 * w plus exact zeros), so C equals io::dequantize's floats exactly,
// in both orientations and in the vector kernel's rows.
TEST_P(MatmulQuantTypes, RunDecodeEqualsHostExactly) {
  auto& ctx = test::context();
  DType t = GetParam();
  const int64_t block = dtype_block(t).elements;
  auto exact = [&](bool trans_b, int64_t size, int64_t other, MatmulVariant variant) {
    SCOPED_TRACE(fmt::format("{} {} identity {}, {}", dtype_name(t), trans_b ? "x W^T" : "x W",
                             size, ops::matmul_variant_name(variant)));
    // Forward: W [other, size], C = I W^T = W^T; backward: W [size, other], C = I W = W.
    const int64_t rows = trans_b ? other : size, cols = trans_b ? size : other;
    const int64_t m = variant == MatmulVariant::vector ? std::min<int64_t>(size, 8) : size;
    auto blocks = test::random_blocks(t, uint64_t(rows), uint64_t(cols), uint32_t(size + other));
    auto w = io::dequantize(blocks, io::ggml_type_of(t), uint64_t(rows * cols));
    std::vector<float> identity(size_t(m * size), 0.0f);
    for (int64_t i = 0; i < m; ++i) identity[size_t(i * size + i)] = 1.0f;
    Tensor a = test::tensor_with({m, size}, DType::f32, identity, "I", ctx);
    Tensor wt = make_tensor(ctx, t, {rows, cols}, "W");
    write_bytes(ctx, wt, blocks);
    Tensor c = make_tensor(ctx, DType::f32, {m, other}, "C");
    vk::Recorder rec(ctx);
    ops::matmul(rec, c, a, wt, {false, trans_b, 1.0f, 0.0f, variant});
    rec.run();
    auto got = read_floats(ctx, c);
    size_t wrong = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < other; ++j) {
        float want = trans_b ? w[size_t(j * cols + i)] : w[size_t(i * cols + j)];
        if (!(got[size_t(i * other + j)] == want) && wrong++ < 5)
          ADD_FAILURE() << "C[" << i << ", " << j << "] = " << got[size_t(i * other + j)]
                        << ", the host decodes " << want;
      }
    EXPECT_EQ(wrong, 0u);
  };
  exact(true, 2 * block, 5, MatmulVariant::portable);
  exact(false, 7, 2 * block, MatmulVariant::portable);
  if (ops::matmul_unavailable(ctx, MatmulVariant::vector, DType::f32, DType::f32, t).empty())
    exact(true, 2 * block, 5, MatmulVariant::vector);
}

INSTANTIATE_TEST_SUITE_P(Types, MatmulQuantTypes, testing::ValuesIn(test::block_types()),
                         [](const testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

// 16-bit activations (C in A's dtype or f32), split-K over whole blocks, and a LoRA branch added
// beside the quantized base product.
TEST(MatmulQuant, SixteenBitActivationsSplitKAndAddend) {
  auto& ctx = test::context();
  check(ctx, {DType::q4_k, DType::bf16, DType::bf16, true, 19, 33, 512, 1.0f, 0.5f});
  check(ctx, {DType::q6_k, DType::bf16, DType::bf16, false, 19, 256, 33});
  check(ctx, {DType::q8_0, DType::f16, DType::f32, true, 21, 17, 96, 1.0f, 1.0f});
  check(ctx, {DType::q4_k, DType::f32, DType::f32, true, 9, 20, 512, 1.0f, 0.5f, 2});
  check(ctx, {DType::q5_0, DType::f32, DType::f32, false, 9, 64, 90, 1.0f, 0.0f, 3});

  auto va2 = test::random_values(size_t(23) * 16, 43), vb2 = test::random_values(size_t(16) * 40, 44);
  Tensor a2 = test::tensor_with({23, 16}, DType::f32, va2, "lora x A", ctx);
  Tensor b2 = test::tensor_with({40, 16}, DType::f32, vb2, "lora B", ctx);
  ops::MatmulAddend addend{&a2, &b2, true, 2.0f};
  check(ctx, {DType::q4_0, DType::f32, DType::f32, true, 23, 40, 64, 1.0f, 0.0f}, &addend, &va2, &vb2);
}

// Slabs (ops/matmul.hpp): W decoded a slab at a time into A's 16-bit type and multiplied by the
// float kernel, in both orientations, several slabs with a last short one (forward: 300 rows
// of W in 256-row slabs; backward: 17 Q8_0 blocks of columns in 8-block slabs, and 700 rows in
// 256-row slabs along K), beta, and a LoRA branch; on the cooperative-matrix variants where the device has them.
TEST(MatmulQuant, SlabsMatchTheDequantizedProduct) {
  auto& ctx = test::context();
  const auto slabs = QuantizedRead::slabs;
  for (auto v : {MatmulVariant::portable, MatmulVariant::coopmat, MatmulVariant::coopmat2}) {
    // bf16 where the variant has it, else f16 (the coopmat CI lane's lavapipe).
    DType in = DType::bf16;
    if (!ops::matmul_unavailable(ctx, v, in, in, DType::q4_k).empty()) in = DType::f16;
    if (!ops::matmul_unavailable(ctx, v, in, in, DType::q4_k).empty()) continue;
    check(ctx, {DType::q4_k, in, in, true, 19, 300, 512, 1.0f, 0.5f, 0, v, slabs, 256 * 512 * 2});
    check(ctx, {DType::q8_0, in, DType::f32, false, 21, 544, 45, 1.5f, 0.0f, 0, v, slabs,
                256 * 45 * 2});
    // dy W along K where slabs along N would be thin (a head's input gradient): 700 rows of W
    // in 256-row slabs (the last short) summed in f32, then alpha and beta into C.
    check(ctx, {DType::q4_k, in, in, false, 37, 512, 700, 1.5f, 0.5f, 0, v, slabs,
                256 * 512 * 2 + 37 * 512 * 4});
    auto va2 = test::random_values(size_t(23) * 16, 43, in);
    auto vb2 = test::random_values(size_t(16) * 300, 44, in);
    Tensor a2 = test::tensor_with({23, 16}, in, va2, "lora x A", ctx);
    Tensor b2 = test::tensor_with({300, 16}, in, vb2, "lora B", ctx);
    ops::MatmulAddend addend{&a2, &b2, true, 2.0f};
    check(ctx, {DType::q6_k, in, in, true, 23, 300, 256, 1.0f, 0.0f, 0, v, slabs, 1}, &addend,
          &va2, &vb2);
  }
  // What slabs cannot take is named.
  auto message = test::error_message([&] {
    check(ctx, {DType::q8_0, DType::f32, DType::f32, true, 9, 20, 64, 1.0f, 0.0f, 0,
                MatmulVariant::portable, slabs});
  });
  EXPECT_NE(message.find("slabs of W"), std::string::npos) << message;
}

// K far past lavapipe's loop limit: cut into dispatches at block boundaries along W's rows
// (forward) and anywhere along its columns (backward).
TEST(MatmulQuant, LongKPastTheDriversLoopLimit) {
  auto& ctx = test::context();
  check(ctx, {DType::q4_k, DType::f32, DType::f32, true, 3, 5, 45056, 1.0f, 0.5f});
  check(ctx, {DType::q8_0, DType::f32, DType::f32, false, 3, 64, 40001});
  // A few rows: the vector kernel where the device has subgroup arithmetic.
  check(ctx, {DType::q4_k, DType::f32, DType::f32, true, 3, 5, 45056, 1.0f, 0.5f, 0,
              MatmulVariant::automatic});
}

// A vocabulary's worth of weight rows at one token: more columns of C than a device need launch
// workgroups for (65535), so the vector kernel's workgroups take several each.
TEST(MatmulQuant, DecodeStepPastTheWorkgroupCount) {
  auto& ctx = test::context();
  check(ctx, {DType::q8_0, DType::f32, DType::f32, true, 1, 70001, 32, 1.0f, 0.0f, 0,
              MatmulVariant::automatic});
}

// A weight split over several allocations: whole rows of blocks per span.
TEST(MatmulQuant, WeightAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 4 << 10;  // 14 rows of a 512-wide Q4_K weight per span
  vk::Context ctx(options);
  check(ctx, {DType::q4_k, DType::f32, DType::f32, true, 7, 50, 512});
  check(ctx, {DType::q4_k, DType::f32, DType::f32, false, 7, 512, 50});
}

TEST(MatmulQuant, WhatItCannotDoIsNamed) {
  auto& ctx = test::context();
  Tensor x = make_tensor(ctx, DType::f32, {4, 96}, "x");
  Tensor w = make_tensor(ctx, DType::q8_0, {8, 96}, "W");
  Tensor y = make_tensor(ctx, DType::f32, {4, 8}, "y");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] {
    ops::matmul(rec, y, x, w, {false, true, 1.0f, 0.0f, ops::MatmulVariant::coopmat2});
  });
  EXPECT_NE(message.find("[matmul] variant coopmat2"), std::string::npos) << message;
  message = test::error_message([&] {
    ops::MatmulOptions options{false, true};
    options.split_k = 2;  // parts of 48 values: not whole 32-value blocks
    ops::matmul(rec, y, x, w, options);
  });
  EXPECT_NE(message.find("into whole 32-value blocks"), std::string::npos) << message;
  Tensor w3 = make_tensor(ctx, DType::q8_0, {2, 8, 96}, "W3");
  message = test::error_message([&] { ops::matmul(rec, y, x, w3, {false, true}); });
  EXPECT_NE(message.find("a quantized B must be one [rows, cols] matrix"), std::string::npos)
      << message;
  Tensor w_backward = make_tensor(ctx, DType::q8_0, {96, 32}, "W");
  Tensor y32 = make_tensor(ctx, DType::f32, {4, 32}, "y");
  message = test::error_message([&] {
    ops::matmul(rec, y32, x, w_backward, {false, false, 1.0f, 0.0f, ops::MatmulVariant::vector});
  });
  EXPECT_NE(message.find("[matmul] variant vector"), std::string::npos) << message;
  Tensor xi = make_tensor(ctx, DType::i32, {4, 96}, "ids");
  message = test::error_message([&] { ops::matmul(rec, y, xi, w, {false, true}); });
  EXPECT_NE(message.find("must be f32, f16 or bf16"), std::string::npos) << message;
}

// MXFP4 has no fused kernels: every product on it decodes slabs for the float kernels, f32
// activations and a few rows (generation) included. Both orientations at sizes no tile divides,
// rows of W that start at odd bytes (17-byte blocks), small forced slabs with a short last one
// (forward: 300 rows in 256-row slabs; backward: 17 blocks of columns in 8-block slabs, and 700
// rows in 256-row slabs along K), alpha and beta, and a LoRA branch.
TEST(MatmulQuant, Mxfp4TakesSlabsEverywhere) {
  auto& ctx = test::context();
  const DType t = DType::mxfp4;
  const auto automatic = QuantizedRead::automatic;
  const auto portable = MatmulVariant::portable;
  for (DType in : {DType::f32, DType::bf16, DType::f16}) {
    const uint64_t e = dtype_size(in);
    check(ctx, {t, in, in, true, 19, 300, 96, 1.0f, 0.5f, 0, portable, automatic, 256 * 96 * e});
    check(ctx, {t, in, DType::f32, false, 21, 544, 45, 1.5f, 0.0f, 0, portable, automatic,
                256 * 45 * e});
    check(ctx, {t, in, in, false, 37, 544, 700, 1.5f, 0.5f, 0, portable, automatic,
                256 * 544 * e + 37 * 544 * 4});
    check(ctx, {t, in, in, true, 3, 45, 160, 1.0f, 0.0f, 0, MatmulVariant::automatic});
  }
  check(ctx, {t, DType::f32, DType::f32, true, 1, 70, 96, 1.0f, 0.0f, 0, MatmulVariant::automatic});
  auto va2 = test::random_values(size_t(23) * 16, 43), vb2 = test::random_values(size_t(16) * 300, 44);
  Tensor a2 = test::tensor_with({23, 16}, DType::f32, va2, "lora x A", ctx);
  Tensor b2 = test::tensor_with({300, 16}, DType::f32, vb2, "lora B", ctx);
  ops::MatmulAddend addend{&a2, &b2, true, 2.0f};
  check(ctx, {t, DType::f32, DType::f32, true, 23, 300, 64, 1.0f, 0.0f, 0, portable, automatic, 1},
        &addend, &va2, &vb2);
  // matmul_choose and matmul_unavailable speak of the float kernels that multiply the slabs.
  for (DType in : {DType::f16, DType::bf16})
    EXPECT_EQ(ops::matmul_choose(ctx, in, in, t), ops::matmul_choose(ctx, in, in, in));
  EXPECT_NE(ops::matmul_unavailable(ctx, MatmulVariant::vector, DType::f32, DType::f32, t)
                .find("no vector kernel"),
            std::string::npos);
}

// What MXFP4's slabs cannot take is named: fused reads, and a weight over several allocations.
TEST(MatmulQuant, Mxfp4SaysWhatSlabsCannotTake) {
  auto message = test::error_message([&] {
    check(test::context(), {DType::mxfp4, DType::f32, DType::f32, true, 9, 20, 64, 1.0f, 0.0f, 0,
                            MatmulVariant::portable, QuantizedRead::fused});
  });
  EXPECT_NE(message.find("has no fused kernels"), std::string::npos) << message;
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 4 << 10;
  vk::Context ctx(options);
  message = test::error_message(
      [&] { check(ctx, {DType::mxfp4, DType::f32, DType::f32, true, 7, 300, 512}); });
  EXPECT_NE(message.find("is read through slabs only"), std::string::npos) << message;
}

// ops::moe_matmul's decode-step product on a block-quantized expert weight (the vector kernel,
// moe_matmul_vector.cpp): against the plain reference on io::dequantize's floats, and against the
// slab path forced on the same data. The kernel sums in its own order (runs of 8 per invocation,
// then subgroups), so both match within rounding, not bit for bit.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_matmul.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// Groupings of a generation step and of a prompt's tail, each with experts that own no rows and
// 2 grouped rows past offsets[E] (invalid ids) that must keep their values:
//   S = 1: one token, one routed expert (k = 1) among 9;
//   S = 7: experts 1, 3, 4, 7 own 1, 3, 1, 2 rows (a short tail routed to k distinct experts);
//   S = 11: expert 5 of 14 owns 10 rows, more than one kernel chunk (kMatmulVectorRows).
struct Grouping {
  const char* name;
  std::vector<int32_t> offsets;
};
const Grouping kGroupings[] = {
    {"S1", {0, 0, 0, 1, 1, 1, 1, 1, 1, 1}},
    {"S7", {0, 0, 1, 1, 4, 5, 5, 5, 7, 7}},
    {"S11", {0, 0, 1, 1, 1, 1, 11, 11, 11, 11, 11, 11, 11, 11, 11}},
};
constexpr int64_t kPast = 2;  // grouped rows after offsets[E]
constexpr int64_t kR = 38;    // gate and up halves of 19 rows

// Q: whole blocks, no multiple of the 512 values the kernel's 64 invocations take per pass.
int64_t columns(DType weight) { return dtype_block(weight).elements == 32 ? 160 : 768; }

struct Case {
  DType weight, in, out;
};

// Relative error allowed: x's and y's rounding (bf16 keeps 8 bits, f16 11) over sums of Q
// products in another order than the reference's doubles.
double tolerance(const Case& c) {
  auto bits = [](DType t) { return t == DType::bf16 ? 1e-2 : t == DType::f16 ? 2e-3 : 1e-5; };
  return std::max(bits(c.in), bits(c.out));
}

void check_case(const Case& c) {
  auto& ctx = test::context();
  const int64_t Q = columns(c.weight);
  for (const Grouping& g : kGroupings) {
    const int64_t E = int64_t(g.offsets.size()) - 1, S = g.offsets.back() + kPast;
    ASSERT_LE(S, E) << "the op takes the vector kernel for at most E rows";
    // Ordinary weights, as llama.cpp's quantizer makes them: non-zero, no extreme scales.
    const auto blocks = io::quantize(test::random_values(uint64_t(E * kR * Q), 81),
                                     io::ggml_type_of(c.weight));
    const auto floats = io::dequantize(blocks, io::ggml_type_of(c.weight), uint64_t(E * kR * Q));
    Tensor w = make_tensor(ctx, c.weight, {E, kR, Q}, "w");
    write_bytes(ctx, w, blocks);
    Tensor offsets = make_tensor(ctx, DType::i32, {E + 1}, "offsets");
    write_ints(ctx, offsets, g.offsets);
    for (ops::MoeWeightBand band : {ops::MoeWeightBand{0, kR}, ops::MoeWeightBand{19, 19}}) {
      const int64_t N = int64_t(band.rows);
      SCOPED_TRACE(fmt::format("{} w, x {}, y {}, {}, band {} + {}", dtype_name(c.weight),
                               dtype_name(c.in), dtype_name(c.out), g.name, band.first, N));
      auto x = test::random_values(size_t(S * Q), 82, c.in);
      auto y0 = test::random_values(size_t(S * N), 83, c.out);
      Tensor xt = test::tensor_with({S, Q}, c.in, x, "x");
      Tensor got = test::tensor_with({S, N}, c.out, y0, "y");
      Tensor slabs = test::tensor_with({S, N}, c.out, y0, "y slabs");
      ops::MoeMatmulOptions options{.alpha = 1.5f, .beta = 0.75f, .band = band};
      vk::Recorder rec(ctx);
      ops::moe_matmul(rec, got, xt, w, offsets, options);
      if (ctx.caps().subgroup_arithmetic)
        EXPECT_EQ(rec.commands(), 1u) << "one vector dispatch, no slab decodes";
      options.force_slabs = true;
      options.variant = ops::MoeMatmulVariant::portable;
      ops::moe_matmul(rec, slabs, xt, w, offsets, options);
      rec.run();

      // The reference: each expert's band rows of the dequantized weight.
      std::vector<float> band_floats;
      for (int64_t e = 0; e < E; ++e)
        band_floats.insert(band_floats.end(),
                           floats.begin() + (e * kR + int64_t(band.first)) * Q,
                           floats.begin() + (e * kR + int64_t(band.first) + N) * Q);
      std::vector<double> want =
          reference::moe_matmul(x, band_floats, g.offsets, size_t(N), size_t(Q), true);
      const int64_t valid = g.offsets.back();
      for (int64_t i = 0; i < valid * N; ++i) want[i] = 1.5 * want[i] + 0.75 * y0[i];
      for (int64_t i = valid * N; i < S * N; ++i) want[i] = y0[i];
      auto gv = read_floats(ctx, got), sv = read_floats(ctx, slabs);
      EXPECT_LT(test::relative_error(gv, want), tolerance(c));
      EXPECT_LT(test::relative_error(sv, want), tolerance(c));
      for (int64_t i = valid * N; i < S * N; ++i)
        ASSERT_EQ(gv[i], y0[i]) << "row " << i / N << " past offsets[E] was written";
    }
  }
}

}  // namespace

class MoeMatmulVector : public testing::TestWithParam<Case> {};

TEST_P(MoeMatmulVector, MatchesTheDequantizedReference) { check_case(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Types, MoeMatmulVector,
    testing::Values(Case{DType::q8_0, DType::f32, DType::f32},
                    Case{DType::q8_0, DType::bf16, DType::bf16},
                    Case{DType::q4_0, DType::f16, DType::f16},
                    Case{DType::q4_0, DType::f32, DType::f32},
                    Case{DType::q5_1, DType::bf16, DType::f32},
                    Case{DType::q4_k, DType::f32, DType::f32},
                    Case{DType::q4_k, DType::bf16, DType::bf16},
                    Case{DType::q4_k, DType::f16, DType::f32},
                    Case{DType::q6_k, DType::f16, DType::f32},
                    Case{DType::q6_k, DType::f32, DType::f32},
                    Case{DType::q3_k, DType::f32, DType::f32}),
    [](const auto& info) {
      return fmt::format("{}_{}_{}", dtype_name(info.param.weight), dtype_name(info.param.in),
                         dtype_name(info.param.out));
    });

// More grouped rows than experts (a prompt, a training step) take slabs: the decodes and the
// float kernel (moe_matmul_quant_test.cpp checks their products).
TEST(MoeMatmulVectorChoice, ManyRowsTakeSlabs) {
  auto& ctx = test::context();
  const int64_t E = 3, R = 8, Q = 64, S = 5;  // S > E
  const std::vector<int32_t> offs = {0, 2, 2, 5};
  const auto blocks = io::quantize(test::random_values(uint64_t(E * R * Q), 84),
                                   io::ggml_type_of(DType::q8_0));
  Tensor w = make_tensor(ctx, DType::q8_0, {E, R, Q}, "w");
  write_bytes(ctx, w, blocks);
  Tensor offsets = make_tensor(ctx, DType::i32, {E + 1}, "offsets");
  write_ints(ctx, offsets, offs);
  Tensor x = test::tensor_with({S, Q}, DType::f32, test::random_values(size_t(S * Q), 85), "x");
  Tensor y = make_tensor(ctx, DType::f32, {S, R}, "y");
  vk::Recorder rec(ctx);
  ops::moe_matmul(rec, y, x, w, offsets, {.variant = ops::MoeMatmulVariant::portable});
  EXPECT_GT(rec.commands(), 1u) << "S > E: decodes and the float kernel";
}

}  // namespace vktrain

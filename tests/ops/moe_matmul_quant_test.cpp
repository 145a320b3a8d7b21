// ops::moe_matmul on a block-quantized expert weight, read by slabs, against moe_matmul on the
// same weight dequantized by io::dequantize and stored in x's dtype: equal bit for bit on the
// portable variant, which both run.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstring>

#include "io/ggml_dtype.hpp"
#include "io/quant.hpp"
#include "ops/moe_matmul.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// Grouped rows as moe_matmul_test.cpp lays them out (an expert without rows, one of several
// tiles, single rows, 3 rows past offsets[E] that stay as they are); E = 5 is no multiple of the
// 2-expert slabs below, and R's gate/up halves are bands of 45 rows.
const std::vector<int32_t> kOffsets = {0, 37, 37, 38, 181, 185};
constexpr int64_t kS = 188, kE = 5, kR = 90;

// Q: whole blocks, and for the legacy types (32-value blocks) no multiple of the 64-wide tiles.
int64_t columns(DType weight) { return dtype_block(weight).elements == 32 ? 160 : 512; }


// Whether two float vectors hold the same bits.
size_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
  return a.size();
}

struct Case {
  DType weight, in, out;
};

std::string describe(const Case& c) {
  return fmt::format("{} w, x {}, y {}", dtype_name(c.weight), dtype_name(c.in),
                     dtype_name(c.out));
}

// Blocks for w [E, R, Q]: random ones (extreme scales included) where x is f32 or bf16; f16
// holds no value past 65504, so its cases take blocks that llama.cpp's quantizer makes of
// ordinary weights.
std::vector<std::byte> weight_blocks(const Case& c, uint64_t rows, uint64_t cols) {
  if (c.in != DType::f16) return test::random_blocks(c.weight, rows, cols, 71);
  return io::quantize(test::random_values(rows * cols, 72), io::ggml_type_of(c.weight));
}

// The slab bounds each case runs under: the default (every expert in one slab); two experts a
// slab; and a bound below one expert's band, so bands split into pieces of 20 rows (x w^T) and of
// whole blocks of columns (x w).
std::vector<uint64_t> slab_bounds(const Case& c, int64_t Q) {
  const uint64_t element = dtype_size(c.in);
  return {0, 2 * uint64_t(kR * Q) * element, 20 * uint64_t(Q) * element};
}

void check_case(const Case& c) {
  auto& ctx = test::context();
  const int64_t Q = columns(c.weight);
  const auto blocks = weight_blocks(c, uint64_t(kE * kR), uint64_t(Q));
  Tensor wq = make_tensor(ctx, c.weight, {kE, kR, Q}, "w");
  write_bytes(ctx, wq, blocks);
  Tensor wf = test::tensor_with(
      {kE, kR, Q}, c.in,
      io::dequantize(blocks, io::ggml_type_of(c.weight), uint64_t(kE * kR * Q)), "w floats");
  Tensor offsets = make_tensor(ctx, DType::i32, {kE + 1}, "offsets");
  write_ints(ctx, offsets, kOffsets);
  for (bool trans_w : {true, false})
    for (ops::MoeWeightBand band : {ops::MoeWeightBand{0, kR}, ops::MoeWeightBand{45, 45}})
      for (uint64_t slab : slab_bounds(c, Q)) {
        const int64_t N = int64_t(band.rows), K = trans_w ? Q : N, width = trans_w ? N : Q;
        SCOPED_TRACE(fmt::format("{}, {}, band {} + {}, slab bound {}", describe(c),
                                 trans_w ? "x w^T" : "x w", band.first, band.rows, slab));
        auto x = test::random_values(size_t(kS * K), 73, c.in);
        auto y0 = test::random_values(size_t(kS * width), 74, c.out);
        Tensor xt = test::tensor_with({kS, K}, c.in, x, "x");
        Tensor got = test::tensor_with({kS, width}, c.out, y0, "y");
        Tensor want = test::tensor_with({kS, width}, c.out, y0, "y want");
        ops::MoeMatmulOptions options{.trans_w = trans_w,
                                 .alpha = 1.5f,
                                 .beta = 0.75f,
                                 .band = band,
                                 .variant = ops::MoeMatmulVariant::portable,
                                 .slab_bytes = slab};
        vk::Recorder rec(ctx);
        ops::moe_matmul(rec, got, xt, wq, offsets, options);
        ops::moe_matmul(rec, want, xt, wf, offsets, options);
        rec.run();
        auto g = read_floats(ctx, got), w = read_floats(ctx, want);
        size_t at = first_difference(g, w);
        EXPECT_EQ(at, g.size()) << "element " << at << ": " << g[at] << " vs " << w[at];
        // The product ran: rows past offsets[E] keep y0, the others changed.
        EXPECT_EQ(g.back(), y0.back());
        EXPECT_NE(g.front(), y0.front());
      }
}

}  // namespace

class MoeMatmulQuantized : public testing::TestWithParam<Case> {};

TEST_P(MoeMatmulQuantized, SlabsEqualTheDequantizedProduct) { check_case(GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Types, MoeMatmulQuantized,
    testing::Values(Case{DType::q8_0, DType::f32, DType::f32},
                    Case{DType::q8_0, DType::bf16, DType::f32},
                    Case{DType::q4_0, DType::f16, DType::f16},
                    Case{DType::q5_1, DType::bf16, DType::bf16},
                    Case{DType::q4_k, DType::f32, DType::f32},
                    Case{DType::q4_k, DType::bf16, DType::bf16},
                    Case{DType::q6_k, DType::f16, DType::f32},
                    Case{DType::q6_k, DType::f32, DType::f32}),
    [](const auto& info) {
      return fmt::format("{}_{}_{}", dtype_name(info.param.weight), dtype_name(info.param.in),
                         dtype_name(info.param.out));
    });

// Every orientation's slab bound: whole experts where one fits, pieces of N where not, and
// nothing for a float weight.
TEST(MoeMatmulQuantizedScratch, SlabBytes) {
  using ops::moe_matmul_slab_scratch_bytes;
  EXPECT_EQ(moe_matmul_slab_scratch_bytes(DType::bf16, DType::bf16, 8, 64, 256, true), 0u);
  // 8 experts of 64 x 256 bf16 values: 256 KiB, all in one slab.
  EXPECT_EQ(moe_matmul_slab_scratch_bytes(DType::bf16, DType::q4_k, 8, 64, 256, true),
            8u * 64 * 256 * 2);
  // A bound of 3 experts' bytes takes 3.
  EXPECT_EQ(moe_matmul_slab_scratch_bytes(DType::bf16, DType::q4_k, 8, 64, 256, false,
                                          3 * 64 * 256 * 2 + 5),
            3u * 64 * 256 * 2);
  // Below one expert: 10 rows (x w^T), or one 256-value block of columns (x w).
  EXPECT_EQ(moe_matmul_slab_scratch_bytes(DType::f32, DType::q4_k, 8, 64, 512, true,
                                          10 * 512 * 4 + 3),
            10u * 512 * 4);
  EXPECT_EQ(moe_matmul_slab_scratch_bytes(DType::f32, DType::q4_k, 8, 64, 512, false,
                                          10 * 512 * 4),
            64u * 256 * 4);
}

TEST(MoeMatmulQuantizedErrors, NoGradientForABlockWeight) {
  auto& ctx = test::context();
  Tensor dy = make_tensor(ctx, DType::f32, {10, 6}, "dy");
  Tensor x = make_tensor(ctx, DType::f32, {10, 32}, "x");
  Tensor dw = make_tensor(ctx, DType::q8_0, {3, 6, 32}, "dw");
  Tensor offsets = make_tensor(ctx, DType::i32, {4}, "offsets");
  vk::Recorder rec(ctx);
  auto message =
      test::error_message([&] { ops::moe_matmul_weight(rec, dw, dy, x, offsets); });
  EXPECT_NE(message.find("dw (q8_0, [3, 6, 32]) is in a ggml block type"), std::string::npos)
      << message;
}

}  // namespace vktrain

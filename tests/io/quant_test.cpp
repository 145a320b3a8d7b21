#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "base/dtype.hpp"
#include "io/quant.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::GgmlType;

namespace {

// Little-endian bytes of a block, written at explicit offsets as the format documents them.
struct BlockBytes {
  std::vector<std::byte> bytes;
  explicit BlockBytes(size_t n) : bytes(n) {}
  void u8(size_t at, uint8_t v) { bytes[at] = std::byte(v); }
  void f16(size_t at, float v) {
    uint16_t h = f32_to_f16(v);
    std::memcpy(bytes.data() + at, &h, 2);
  }
  uint8_t get(size_t at) const { return uint8_t(bytes[at]); }
};

float block_d(std::span<const std::byte> blocks, size_t block, size_t block_bytes) {
  uint16_t h;
  std::memcpy(&h, blocks.data() + block * block_bytes, 2);
  return f16_to_f32(h);
}

double relative_rms(const std::vector<float>& got, const std::vector<float>& want) {
  double error = 0, norm = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    error += (got[i] - want[i]) * double(got[i] - want[i]);
    norm += want[i] * double(want[i]);
  }
  return std::sqrt(error / norm);
}

// The 12 packed bytes of eight 6-bit scales and mins, from the format definition: bytes 0..3
// hold scale j (low 6 bits) and the top 2 bits of scale j+4; bytes 4..7 the same for mins;
// bytes 8..11 the low 4 bits of scale j+4 (low nibble) and min j+4 (high nibble).
void pack_k_scales(BlockBytes& b, size_t at, const uint8_t (&sc)[8], const uint8_t (&m)[8]) {
  for (int j = 0; j < 4; ++j) {
    b.u8(at + j, uint8_t(sc[j] | ((sc[j + 4] >> 4) << 6)));
    b.u8(at + 4 + j, uint8_t(m[j] | ((m[j + 4] >> 4) << 6)));
    b.u8(at + 8 + j, uint8_t((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4)));
  }
}

constexpr uint8_t kScales[8] = {1, 2, 3, 4, 17, 33, 50, 63};  // 17.. use the packed top bits
constexpr uint8_t kMins[8] = {0, 5, 10, 15, 20, 40, 60, 63};

}  // namespace

TEST(Quant, BlockSizesMatchGgml) {
  auto expect = [](GgmlType t, uint32_t elements, uint32_t bytes, std::string_view name) {
    EXPECT_EQ(io::ggml_block(t).elements, elements) << name;
    EXPECT_EQ(io::ggml_block(t).bytes, bytes) << name;
    EXPECT_EQ(io::ggml_type_name(t), name);
  };
  expect(GgmlType::f32, 1, 4, "F32");
  expect(GgmlType::f16, 1, 2, "F16");
  expect(GgmlType::bf16, 1, 2, "BF16");
  expect(GgmlType::q8_0, 32, 34, "Q8_0");
  expect(GgmlType::q4_0, 32, 18, "Q4_0");
  expect(GgmlType::q4_k, 256, 144, "Q4_K");
  expect(GgmlType::q5_k, 256, 176, "Q5_K");
  expect(GgmlType::q6_k, 256, 210, "Q6_K");
  EXPECT_EQ(io::ggml_block(GgmlType(4)).elements, 0u);  // retired Q4_2
  EXPECT_EQ(io::ggml_type_name(GgmlType(99)), "unknown");
  EXPECT_EQ(io::ggml_row_bytes(GgmlType::q4_k, 4096), 16u * 144);
  EXPECT_EQ(io::ggml_row_bytes(GgmlType::bf16, 7), 14u);
  auto message = test::error_message([] { io::ggml_row_bytes(GgmlType::q8_0, 40); });
  EXPECT_NE(message.find("[quant] a Q8_0 row of 40 values is not a whole number of 32-value"),
            std::string::npos) << message;
}

TEST(Quant, DequantizesFloatTypes) {
  std::vector<uint16_t> half = {0x3C00, 0xC000, 0x3555};  // 1, -2, 0.333...
  auto f = io::dequantize(std::as_bytes(std::span(half)), GgmlType::f16, 3);
  EXPECT_EQ(f, (std::vector<float>{1.0f, -2.0f, 0.33325195f}));
  std::vector<uint16_t> brain = {0x3F80, 0x4049, 0xBF00};  // 1, 3.140625, -0.5
  auto b = io::dequantize(std::as_bytes(std::span(brain)), GgmlType::bf16, 3);
  EXPECT_EQ(b, (std::vector<float>{1.0f, 3.140625f, -0.5f}));
  std::vector<float> x = {1.5f, -0.25f};
  EXPECT_EQ(io::dequantize(std::as_bytes(std::span(x)), GgmlType::f32, 2), x);
}

TEST(Quant, DequantizesHandBuiltQ8_0) {
  BlockBytes b(34);
  b.f16(0, 0.25f);
  for (int j = 0; j < 32; ++j) b.u8(2 + j, uint8_t(int8_t(j - 16)));
  auto y = io::dequantize(b.bytes, GgmlType::q8_0, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j - 16) * 0.25f) << j;
}

TEST(Quant, DequantizesHandBuiltQ4_0) {
  // d = 0.5; byte j holds element j in its low nibble (q = j) and element j+16 in its high
  // nibble (q = 15 - j), and x = (q - 8) d.
  BlockBytes b(18);
  b.f16(0, 0.5f);
  for (int j = 0; j < 16; ++j) b.u8(2 + j, uint8_t(j | ((15 - j) << 4)));
  auto y = io::dequantize(b.bytes, GgmlType::q4_0, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;
    EXPECT_EQ(y[j + 16], (7 - j) * 0.5f) << j;
  }
  EXPECT_EQ(y[0], -4.0f);
  EXPECT_EQ(y[16], 3.5f);
}

TEST(Quant, DequantizesHandBuiltQ4_K) {
  // d, dmin, scales[12], qs[128]. Element e is in sub-block j = e / 32; qs byte 32 (j / 2) +
  // e % 32 holds it, in the low nibble for even j and the high one for odd j.
  BlockBytes b(144);
  b.f16(0, 0.5f);
  b.f16(2, 0.25f);
  pack_k_scales(b, 4, kScales, kMins);
  auto q = [](int e) { return (e * 7) % 16; };
  for (int e = 0; e < 256; ++e) {
    int j = e / 32, at = 16 + 32 * (j / 2) + e % 32;
    b.u8(at, uint8_t(b.get(at) | (q(e) << (j % 2 ? 4 : 0))));
  }
  auto y = io::dequantize(b.bytes, GgmlType::q4_k, 256);
  for (int e = 0; e < 256; ++e) {
    int j = e / 32;
    EXPECT_EQ(y[e], 0.5f * kScales[j] * q(e) - 0.25f * kMins[j]) << e;
  }
  EXPECT_EQ(y[255], 0.5f * 63 * ((255 * 7) % 16) - 0.25f * 63);
}

TEST(Quant, DequantizesHandBuiltQ5_K) {
  // As Q4_K, then qh[32] at byte 16 and qs[128] at 48: the fifth bit of element e is bit j of
  // qh[e % 32].
  BlockBytes b(176);
  b.f16(0, 0.125f);
  b.f16(2, 0.5f);
  pack_k_scales(b, 4, kScales, kMins);
  auto q = [](int e) { return (e * 11 + 3) % 32; };
  for (int e = 0; e < 256; ++e) {
    int j = e / 32, at = 48 + 32 * (j / 2) + e % 32;
    b.u8(at, uint8_t(b.get(at) | ((q(e) & 15) << (j % 2 ? 4 : 0))));
    if (q(e) & 16) b.u8(16 + e % 32, uint8_t(b.get(16 + e % 32) | (1 << j)));
  }
  auto y = io::dequantize(b.bytes, GgmlType::q5_k, 256);
  for (int e = 0; e < 256; ++e) {
    int j = e / 32;
    EXPECT_EQ(y[e], 0.125f * kScales[j] * q(e) - 0.5f * kMins[j]) << e;
  }
}

TEST(Quant, DequantizesHandBuiltQ6_K) {
  // ql[128], qh[64], int8 scales[16], f16 d at 208. Element e: half h = e / 128, r = e % 128,
  // quarter t = r / 32, l = r % 32. Its low 4 bits are in ql[64 h + l + 32 (t % 2)] (low nibble
  // for t < 2, high for t >= 2), its top 2 bits are bits 2t..2t+1 of qh[32 h + l], its scale is
  // scales[8 h + 2 t + l / 16], and x = d * scale * (q - 32).
  BlockBytes b(210);
  b.f16(208, 0.125f);
  auto scale = [](int k) { return int8_t(k * 9 - 70); };
  for (int k = 0; k < 16; ++k) b.u8(192 + k, uint8_t(scale(k)));
  auto q = [](int e) { return (e * 13 + 5) % 64; };
  for (int e = 0; e < 256; ++e) {
    int h = e / 128, t = (e % 128) / 32, l = e % 32;
    int low_at = 64 * h + l + 32 * (t % 2), high_at = 128 + 32 * h + l;
    b.u8(low_at, uint8_t(b.get(low_at) | ((q(e) & 15) << (t >= 2 ? 4 : 0))));
    b.u8(high_at, uint8_t(b.get(high_at) | ((q(e) >> 4) << (2 * t))));
  }
  auto y = io::dequantize(b.bytes, GgmlType::q6_k, 256);
  for (int e = 0; e < 256; ++e) {
    int h = e / 128, t = (e % 128) / 32, l = e % 32;
    EXPECT_EQ(y[e], 0.125f * scale(8 * h + 2 * t + l / 16) * (q(e) - 32)) << e;
  }
}

// Q8_0: d = amax / 127 and q = round(x / d), so every value is within d / 2 of q d. As in ggml,
// codes are rounded against the f32 step while the block stores its f16 rounding, which moves
// q d by at most |q| half-ulps of f16 (relative 2^-11): up to 127 * 2^-11 d more.
TEST(Quant, Q8_0ErrorIsAtMostHalfAStep) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    auto x = test::random_values(32 * 64, seed, DType::f32, 3.0f);
    auto q = io::quantize(x, GgmlType::q8_0);
    auto y = io::dequantize(q, GgmlType::q8_0, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      float d = block_d(q, i / 32, 34);
      ASSERT_LE(std::fabs(y[i] - x[i]), (d / 2 + 127 * d * 0x1p-11f) * (1 + 1e-5f)) << i;
    }
    EXPECT_LT(relative_rms(y, x), 0.01);
  }
}

// Q4_0: d = -extreme / 8, so the largest magnitude is exact at q = 0 and values on its side are
// within d / 2; values of the other sign stop at +7 d, so those beyond 7.5 d are off by up to d.
// The stored step is the f16 rounding of the one codes were rounded against (see Q8_0), which
// adds up to 8 * 2^-11 d.
TEST(Quant, Q4_0ErrorIsAtMostHalfAStepOutsideTheClippedEnd) {
  for (uint32_t seed : {4u, 5u, 6u}) {
    auto x = test::random_values(32 * 64, seed);
    auto q = io::quantize(x, GgmlType::q4_0);
    auto y = io::dequantize(q, GgmlType::q4_0, x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      float d = block_d(q, i / 32, 18);
      float bound = x[i] / d <= 7.5f ? std::fabs(d) / 2 : std::fabs(d);
      ASSERT_LE(std::fabs(y[i] - x[i]), (bound + 8 * std::fabs(d) * 0x1p-11f) * (1 + 1e-5f)) << i;
    }
    EXPECT_LT(relative_rms(y, x), 0.08);  // uniform data: step / sqrt(12) ~ 6% of the rms
  }
}

// Q4_K: 16 levels over each 32-value sub-block's range, scales to 6 bits. On uniform data the
// relative RMS error is about 5.5% (7% on Gaussian data); the bound leaves a little room.
TEST(Quant, Q4_KRelativeRmsErrorIsAFewPercent) {
  for (uint32_t seed : {7u, 8u, 9u}) {
    auto x = test::random_values(256 * 32, seed, DType::f32, 0.02f);
    auto y = io::dequantize(io::quantize(x, GgmlType::q4_k), GgmlType::q4_k, x.size());
    EXPECT_LT(relative_rms(y, x), 0.06) << seed;
  }
  // All-positive sub-blocks (the min is anchored at zero) and a constant block stay sane.
  std::vector<float> positive(256), constant(256, -0.75f);
  for (int i = 0; i < 256; ++i) positive[i] = 1.0f + (i % 37) / 37.0f;
  auto y = io::dequantize(io::quantize(positive, GgmlType::q4_k), GgmlType::q4_k, 256);
  EXPECT_LT(relative_rms(y, positive), 0.05);
  y = io::dequantize(io::quantize(constant, GgmlType::q4_k), GgmlType::q4_k, 256);
  EXPECT_LT(relative_rms(y, constant), 0.01);
}

TEST(Quant, HalfFloatsRoundToTheirPrecision) {
  auto x = test::random_values(1000, 10);
  auto h = io::dequantize(io::quantize(x, GgmlType::f16), GgmlType::f16, x.size());
  auto b = io::dequantize(io::quantize(x, GgmlType::bf16), GgmlType::bf16, x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(h[i] - x[i]), std::fabs(x[i]) * 0x1p-11f) << i;
    EXPECT_LE(std::fabs(b[i] - x[i]), std::fabs(x[i]) * 0x1p-8f) << i;
  }
}

// Decoded values lie on the grid, so quantizing them again must find the same blocks (Q8_0,
// Q4_0) or, for Q4_K's search, the same values up to a small fraction of the first error.
TEST(Quant, RequantizingDequantizedValuesIsStable) {
  for (GgmlType type : {GgmlType::q8_0, GgmlType::q4_0}) {
    auto x = test::random_values(32 * 40, 11);
    auto first = io::quantize(x, type);
    auto second = io::quantize(io::dequantize(first, type, x.size()), type);
    EXPECT_EQ(first, second) << io::ggml_type_name(type);
  }
  auto x = test::random_values(256 * 8, 12);
  auto y1 = io::dequantize(io::quantize(x, GgmlType::q4_k), GgmlType::q4_k, x.size());
  auto y2 = io::dequantize(io::quantize(y1, GgmlType::q4_k), GgmlType::q4_k, x.size());
  auto y3 = io::dequantize(io::quantize(y2, GgmlType::q4_k), GgmlType::q4_k, x.size());
  EXPECT_LT(relative_rms(y2, y1), 0.25 * relative_rms(y1, x));
  EXPECT_LT(relative_rms(y3, y2), 0.25 * relative_rms(y1, x));
}

TEST(Quant, RefusesUnsupportedTypesAndWrongSizes) {
  std::vector<float> x(256, 1.0f);
  std::vector<std::byte> out(210);
  auto message = test::error_message([&] { io::quantize(out, x, GgmlType::iq4_xs); });
  EXPECT_NE(message.find("[quant] cannot quantize to IQ4_XS"), std::string::npos) << message;
  message = test::error_message([&] { io::dequantize(x, out, GgmlType::tq2_0); });
  EXPECT_NE(message.find("cannot dequantize TQ2_0"), std::string::npos) << message;
  message = test::error_message([&] { io::dequantize(x, out, GgmlType::q5_k); });
  EXPECT_NE(message.find("[quant] dequantize: 256 Q5_K values need 176 bytes, the buffer has 210"),
            std::string::npos) << message;
}

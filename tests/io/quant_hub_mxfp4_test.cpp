// transformers' MXFP4 layout (io/quant_hub_mxfp4.hpp) decodes every FP4 code at the extreme E8M0
// scales to the format's values bit for bit, and to the same values as ggml's block_mxfp4
// holding the same codes in its own nibble order; the NaN scale is NaN, and refused naming the
// group. Repacked into ggml's layout without decoding, the groups are that layout's bytes.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include <fmt/format.h>

#include "io/quant.hpp"
#include "io/quant_hub_mxfp4.hpp"
#include "support/support.hpp"

namespace vktrain {
namespace {

// The OCP MX format's E2M1 values by code (sign bit 3): written out here, not shared with the
// decoder, so the test is the format's definition and not the code's.
constexpr float kFp4[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                            -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// Group g's value i has code (i + 5 g) % 16, so each group holds all 16 codes twice.
uint8_t code(size_t g, size_t i) { return uint8_t((i + 5 * g) % 16); }

TEST(QuantHubMxfp4, EveryCodeAtExtremeScalesDecodesToTheFormatsValuesAsGgmlsLayoutDoes) {
  const std::vector<uint8_t> scales = {0, 1, 100, 126, 127, 128, 200, 253, 254};
  const size_t groups = scales.size();
  std::vector<std::byte> hub_blocks(16 * groups), hub_scales(groups), ggml(17 * groups);
  std::vector<float> want(32 * groups);
  for (size_t g = 0; g < groups; ++g) {
    hub_scales[g] = std::byte(scales[g]);
    ggml[17 * g] = std::byte(scales[g]);
    for (size_t j = 0; j < 16; ++j) {
      // transformers: values 2j and 2j + 1 in byte j; ggml: values j and j + 16.
      hub_blocks[16 * g + j] = std::byte(code(g, 2 * j) | code(g, 2 * j + 1) << 4);
      ggml[17 * g + 1 + j] = std::byte(code(g, j) | code(g, j + 16) << 4);
    }
    for (size_t i = 0; i < 32; ++i)
      // In float: infinite past the range, as the format's product is.
      want[32 * g + i] = std::ldexp(kFp4[code(g, i)], int(scales[g]) - 127);
  }
  std::vector<float> got(want.size());
  io::decode_hub_mxfp4(got, hub_blocks, hub_scales);
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << "value " << i << ": " << got[i] << " for " << want[i];
  // The extremes by hand: group 0 (scale 0) value 1 is code 1, 0.5 * 2^-127, a subnormal; group
  // 8 (scale 254) value i has code (i + 8) % 16: value 0 is -0, 11 the largest finite (1.5 *
  // 2^127), 12 (2 * 2^127) infinite.
  EXPECT_EQ(got[1], std::ldexp(1.0f, -128));
  EXPECT_TRUE(got[32 * 8] == 0.0f && std::signbit(got[32 * 8]));
  EXPECT_EQ(got[32 * 8 + 11], std::ldexp(1.5f, 127));
  EXPECT_TRUE(std::isinf(got[32 * 8 + 12]));
  // ggml's decoder reads its own layout of the same codes to equal values (its code 8 is +0).
  const std::vector<float> from_ggml = io::dequantize(ggml, io::GgmlType::mxfp4, want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(from_ggml[i], got[i]) << "value " << i;
  // Repacking the hub's groups without decoding gives exactly that layout.
  std::vector<std::byte> repacked(17 * groups);
  io::hub_mxfp4_to_ggml(repacked, hub_blocks, hub_scales);
  EXPECT_EQ(repacked, ggml);
  EXPECT_EQ(test::error_message([&] {
              io::hub_mxfp4_to_ggml(std::span(repacked).first(17), hub_blocks, hub_scales);
            }),
            fmt::format("[quant] MXFP4: {} scales for {} bytes of blocks and 17 bytes of ggml "
                        "blocks", groups, 16 * groups));
}

// The format's NaN scale makes its group NaN; a checkpoint holding one is refused naming the
// group, before anything is decoded.
TEST(QuantHubMxfp4, NanScaleIsNanAndRefusedNamingTheGroup) {
  std::vector<std::byte> blocks(32, std::byte(0x21)), scales = {std::byte(127), std::byte(255)};
  std::vector<float> out(64);
  io::decode_hub_mxfp4(out, blocks, scales);
  EXPECT_EQ(out[0], 0.5f);
  EXPECT_EQ(out[1], 1.0f);
  for (size_t i = 32; i < 64; ++i) EXPECT_TRUE(std::isnan(out[i])) << i;
  EXPECT_NO_THROW(io::check_hub_mxfp4_scales(std::span(scales).first(1), "dir: tensor w"));
  EXPECT_EQ(test::error_message([&] { io::check_hub_mxfp4_scales(scales, "dir: tensor w"); }),
            "[model] dir: tensor w: group 1 has the E8M0 scale 255, which MXFP4 defines as NaN; "
            "the checkpoint is corrupt");
  EXPECT_EQ(test::error_message([&] {
              io::decode_hub_mxfp4(std::span(out).first(32), blocks, scales);
            }),
            "[quant] MXFP4: 2 scales for 32 bytes of blocks and 32 values");
}

}  // namespace
}  // namespace vktrain

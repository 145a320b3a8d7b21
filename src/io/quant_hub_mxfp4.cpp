#include "io/quant_hub_mxfp4.hpp"

#include <bit>
#include <cstdint>
#include <limits>

#include "base/error.hpp"

namespace vktrain::io {

namespace {

// E2M1's 16 values: code 8 is negative zero, as the format and transformers' table have it.
constexpr float kE2M1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                             -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// 2^(s - 127) exactly: a normal float's exponent field for s in 1 .. 254, the subnormal 2^-127
// for 0, NaN for 255.
float e8m0(uint8_t s) {
  if (s == 255) return std::numeric_limits<float>::quiet_NaN();
  return std::bit_cast<float>(s ? uint32_t(s) << 23 : 0x00400000u);
}

}  // namespace

void decode_hub_mxfp4(std::span<float> out, std::span<const std::byte> blocks,
                      std::span<const std::byte> scales) {
  const size_t groups = scales.size();
  if (blocks.size() != 16 * groups || out.size() != 32 * groups)
    fail("[quant] MXFP4: {} scales for {} bytes of blocks and {} values", groups, blocks.size(),
         out.size());
  for (size_t g = 0; g < groups; ++g) {
    const float scale = e8m0(uint8_t(scales[g]));
    for (size_t j = 0; j < 16; ++j) {
      const uint8_t byte = uint8_t(blocks[16 * g + j]);
      out[32 * g + 2 * j] = kE2M1[byte & 0x0F] * scale;
      out[32 * g + 2 * j + 1] = kE2M1[byte >> 4] * scale;
    }
  }
}

void hub_mxfp4_to_ggml(std::span<std::byte> out, std::span<const std::byte> blocks,
                       std::span<const std::byte> scales) {
  const size_t groups = scales.size();
  if (blocks.size() != 16 * groups || out.size() != 17 * groups)
    fail("[quant] MXFP4: {} scales for {} bytes of blocks and {} bytes of ggml blocks", groups,
         blocks.size(), out.size());
  // Value i's code: the low nibble of hub byte i / 2 for even i, the high one for odd i.
  auto code = [&](size_t g, size_t i) {
    return (uint8_t(blocks[16 * g + i / 2]) >> (4 * (i % 2))) & 0x0F;
  };
  for (size_t g = 0; g < groups; ++g) {
    out[17 * g] = scales[g];
    for (size_t j = 0; j < 16; ++j)
      out[17 * g + 1 + j] = std::byte(code(g, j) | code(g, j + 16) << 4);
  }
}

void check_hub_mxfp4_scales(std::span<const std::byte> scales, const std::string& label) {
  for (size_t g = 0; g < scales.size(); ++g)
    if (uint8_t(scales[g]) == 255)
      fail("[model] {}: group {} has the E8M0 scale 255, which MXFP4 defines as NaN; the "
           "checkpoint is corrupt",
           label, g);
}

}  // namespace vktrain::io

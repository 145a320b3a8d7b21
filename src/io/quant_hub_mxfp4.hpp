#pragma once
// MXFP4 as transformers stores it (integrations/mxfp4.py; the hub's gpt-oss checkpoints): a
// weight of rows of K values is two U8 tensors,
//   …_blocks [.., rows, K/32, 16]  group g of a row: byte j holds value 32 g + 2j in its low
//                                  nibble and 32 g + 2j + 1 in its high one, each an FP4 E2M1
//                                  code (sign, 2 exponent bits of bias 1, 1 mantissa bit)
//   …_scales [.., rows, K/32]      the group's E8M0 scale s: every value is E2M1 * 2^(s - 127)
// ggml's block_mxfp4 (quant_blocks.hpp) holds the same codes and scale byte, with byte j holding
// values j and j + 16 instead.
#include <cstddef>
#include <span>
#include <string>

namespace vktrain::io {

// The values of `scales.size()` groups into `out` (32 a group) as the OCP MX format defines
// them: code 8 is -0, a scale of 0 is 2^-127, products past the float range (a scale of 254
// times 2 or more) are infinite, and a scale of 255 makes its group NaN. Sizes must agree (16
// bytes and 32 values a group).
void decode_hub_mxfp4(std::span<float> out, std::span<const std::byte> blocks,
                      std::span<const std::byte> scales);

// The same groups as ggml's block_mxfp4 (17 bytes a group in `out`: the scale, then the codes in
// ggml's nibble order), repacked without decoding, so a device tensor of DType mxfp4 can hold
// them. io::dequantize of the result equals decode_hub_mxfp4 except for code 8 (+0 in ggml) and
// the scale 255 (ggml's 2^128), which check_hub_mxfp4_scales refuses first. Sizes must agree.
void hub_mxfp4_to_ggml(std::span<std::byte> out, std::span<const std::byte> blocks,
                       std::span<const std::byte> scales);

// No weight can be NaN: a scale of 255 fails naming `label` (e.g. "dir: tensor name") and the
// group.
void check_hub_mxfp4_scales(std::span<const std::byte> scales, const std::string& label);

}  // namespace vktrain::io

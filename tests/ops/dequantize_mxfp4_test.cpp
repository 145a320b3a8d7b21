// quant.glsl's MXFP4 decode (dequantize.comp, the slabs ops::matmul multiplies) against the
// host's io::dequantize, which is ggml's bit for bit: every code at the scales whose values are
// f32 subnormals (0, 1), the smallest normal (2), ordinary ones (127, 128), past the float range
// (254, 255), and random blocks, decoded to f32 exactly and to f16 / bf16 rounded once.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "io/quant.hpp"
#include "kernels/push.h"
#include "ops/dispatch.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {

constexpr uint8_t kScales[] = {0, 1, 2, 127, 128, 254, 255};

// One block per scale and code: value j of the block is code (j + shift) % 16 (both nibbles of
// each byte, so every code sits at every nibble position across the blocks).
std::vector<std::byte> every_code_blocks() {
  std::vector<std::byte> bytes;
  for (uint8_t scale : kScales)
    for (uint32_t shift = 0; shift < 16; ++shift) {
      bytes.push_back(std::byte(scale));
      for (uint32_t j = 0; j < 16; ++j)
        bytes.push_back(std::byte(((j + shift) % 16) | (((j + shift + 7) % 16) << 4)));
    }
  return bytes;
}

// dequantize_mxfp4_<out> over a [rows, cols] weight of `blocks`; the values as f32.
std::vector<float> device_decode(vk::Context& ctx, const std::vector<std::byte>& blocks,
                                 int64_t rows, int64_t cols, DType out) {
  Tensor w = make_tensor(ctx, DType::mxfp4, {rows, cols}, "W");
  write_bytes(ctx, w, blocks);
  Tensor dense = make_tensor(ctx, out, {rows, cols}, "dense");
  const Location lw = locate(w, 0), ld = locate(dense, 0);
  kernels::DequantizePush push{lw.address(), ld.address(), w.row_bytes(), uint32_t(rows),
                               uint32_t(cols)};
  vk::Recorder rec(ctx);
  const std::string kernel = fmt::format("dequantize_mxfp4_{}", dtype_name(out));
  rec.dispatch(kernel, ops::pipeline(ctx, kernel), &push, sizeof push, ops::stride_groups(ctx, uint64_t(rows * cols) / 8), 1, 1,
               {ops::piece_range(w, lw, w.numel())}, {ops::piece_range(dense, ld, dense.numel())});
  rec.run();
  return read_floats(ctx, dense);
}

// The device's values equal the host's rounded once to `out`, bit for bit.
void check(vk::Context& ctx, const std::vector<std::byte>& blocks, int64_t rows, int64_t cols,
           DType out) {
  SCOPED_TRACE(fmt::format("[{}, {}] -> {}", rows, cols, dtype_name(out)));
  auto host = io::dequantize(blocks, io::GgmlType::mxfp4, uint64_t(rows * cols));
  auto got = device_decode(ctx, blocks, rows, cols, out);
  size_t wrong = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    const float want = round_to(out, host[i]);
    if (std::bit_cast<uint32_t>(want) != std::bit_cast<uint32_t>(got[i]) && wrong++ < 5) {
      const size_t block = i / 32;
      ADD_FAILURE() << "value " << i << " (scale " << int(blocks[block * 17]) << "): " << got[i]
                    << " on the device, " << want << " on the host";
    }
  }
  EXPECT_EQ(wrong, 0u);
}

}  // namespace

// What the host (ggml) makes of the edge scales, which the device must reproduce: the values of
// scales 0 and 1 are f32 subnormals, scale 255 is 2^128 (so code 1, E2M1 0.5, is 2^127 and
// every larger code infinite), and the negative zero code 8 is +0.
TEST(DequantizeMxfp4, HostDecodeOfTheEdgeScales) {
  auto value = [](uint8_t scale, uint8_t code) {
    std::vector<std::byte> block(17, std::byte(code | (code << 4)));
    block[0] = std::byte(scale);
    return io::dequantize(block, io::GgmlType::mxfp4, 32)[0];
  };
  EXPECT_EQ(value(0, 1), std::ldexp(1.0f, -128));
  EXPECT_EQ(value(1, 7), std::ldexp(6.0f, -126));
  EXPECT_EQ(value(255, 1), std::ldexp(1.0f, 127));
  EXPECT_EQ(value(255, 2), std::numeric_limits<float>::infinity());
  EXPECT_EQ(value(255, 10), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(value(254, 3), std::ldexp(1.5f, 127));
  EXPECT_EQ(value(254, 4), std::numeric_limits<float>::infinity());
  EXPECT_EQ(std::bit_cast<uint32_t>(value(127, 8)), 0u);
}

// Every code at each edge scale, in rows of 7 blocks (119 bytes: rows start at every byte offset
// modulo 4), and random blocks of every scale byte in 5-block rows.
TEST(DequantizeMxfp4, DeviceEqualsHostBitForBit) {
  auto& ctx = test::context();
  const auto edges = every_code_blocks();
  ASSERT_EQ(edges.size(), size_t(16 * 7 * 17));
  const auto random = test::random_bytes(37 * 5 * 17, 7);
  for (DType out : {DType::f32, DType::f16, DType::bf16}) {
    check(ctx, edges, 16, 7 * 32, out);
    check(ctx, random, 37, 160, out);
  }
}

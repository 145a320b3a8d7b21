#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "base/error.hpp"
#include "io/ggml_dtype.hpp"
#include "kernels/quant_blocks.h"
#include "ops/embedding.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace {

// Every other row of the table, the last one and repeats, in a scrambled order.
std::vector<int32_t> gather_ids(int32_t vocab) {
  std::vector<int32_t> ids;
  for (int32_t v = 0; v < vocab; v += 2) ids.push_back((v * 7) % vocab);
  ids.push_back(vocab - 1);
  ids.push_back(3);
  return ids;
}

// Gathers rows of a random [vocab, cols] table of type t into `out` rows and checks each value
// against io::dequantize: equal bits in f32, the same value rounded once in f16 / bf16.
void check_gather(vk::Context& ctx, DType t, DType out_dtype, int64_t vocab, int64_t cols,
                  float scale, uint32_t seed) {
  SCOPED_TRACE(fmt::format("{} -> {}, [{}, {}], scale {}", dtype_name(t), dtype_name(out_dtype),
                           vocab, cols, scale));
  auto blocks = test::random_blocks(t, uint64_t(vocab), uint64_t(cols), seed);
  auto table = io::dequantize(blocks, io::ggml_type_of(t), uint64_t(vocab * cols));
  Tensor table_t = make_tensor(ctx, t, {vocab, cols}, "table");
  write_bytes(ctx, table_t, blocks);
  auto ids = gather_ids(int32_t(vocab));
  int64_t n = int64_t(ids.size());
  Tensor ids_t = make_tensor(ctx, DType::i32, {n}, "ids");
  write_ints(ctx, ids_t, ids);
  Tensor out = make_tensor(ctx, out_dtype, {n, cols}, "rows");
  vk::Recorder rec(ctx);
  ops::embedding_forward(rec, out, ids_t, table_t, scale);
  rec.run();
  auto got = read_floats(ctx, out);
  float rounded_scale = round_to(out_dtype, scale);
  size_t wrong = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float want = round_to(out_dtype, rounded_scale * table[size_t(ids[size_t(r)] * cols + c)]);
      float have = got[size_t(r * cols + c)];
      if (std::bit_cast<uint32_t>(want) != std::bit_cast<uint32_t>(have) && wrong++ < 5)
        ADD_FAILURE() << "row " << r << " (id " << ids[size_t(r)] << ") column " << c << ": "
                      << have << " on the device, " << want << " on the host";
    }
  EXPECT_EQ(wrong, 0u);
}

}  // namespace

// The kernels' block sizes (kernels/quant_blocks.h, what quant.glsl strides by) are the host
// layouts' and DType's.
TEST(QuantBlocks, KernelSizesAgreeWithHostLayouts) {
  const std::pair<DType, DTypeBlock> kernel[] = {
      {DType::q8_0, {Q8_0_ELEMENTS, Q8_0_BYTES}}, {DType::q4_0, {Q4_0_ELEMENTS, Q4_0_BYTES}},
      {DType::q4_1, {Q4_1_ELEMENTS, Q4_1_BYTES}}, {DType::q5_0, {Q5_0_ELEMENTS, Q5_0_BYTES}},
      {DType::q5_1, {Q5_1_ELEMENTS, Q5_1_BYTES}}, {DType::q2_k, {Q2_K_ELEMENTS, Q2_K_BYTES}},
      {DType::q3_k, {Q3_K_ELEMENTS, Q3_K_BYTES}}, {DType::q4_k, {Q4_K_ELEMENTS, Q4_K_BYTES}},
      {DType::q5_k, {Q5_K_ELEMENTS, Q5_K_BYTES}}, {DType::q6_k, {Q6_K_ELEMENTS, Q6_K_BYTES}},
      {DType::mxfp4, {MXFP4_ELEMENTS, MXFP4_BYTES}},
  };
  EXPECT_EQ(std::size(kernel), test::block_types().size());
  for (auto [t, block] : kernel) {
    io::GgmlBlock host = io::ggml_block(io::ggml_type_of(t));
    EXPECT_EQ(block.elements, host.elements) << dtype_name(t);
    EXPECT_EQ(block.bytes, host.bytes) << dtype_name(t);
    EXPECT_EQ(block.elements, dtype_block(t).elements) << dtype_name(t);
    EXPECT_EQ(block.bytes, dtype_block(t).bytes) << dtype_name(t);
  }
}

// quant.glsl's decode, through the embedding gather, equals the host's io::dequantize bit for
// bit on random blocks with extreme scales, at row counts no tile divides.
TEST(QuantDecode, DeviceEqualsHostBitForBit) {
  auto& ctx = test::context();
  for (DType t : test::block_types()) {
    int64_t cols = 3 * dtype_block(t).elements;
    check_gather(ctx, t, DType::f32, 61, cols, 1.0f, 11);
    check_gather(ctx, t, DType::f32, 7, cols, 1.6f, 12);  // Gemma's scaled embedding
  }
  // 16-bit rows: the same decode, rounded once (a pipeline each, so two types only).
  check_gather(ctx, DType::q4_k, DType::bf16, 9, 768, 1.0f, 13);
  check_gather(ctx, DType::q8_0, DType::f16, 9, 96, 1.0f, 14);
}

// A quantized table split over several allocations gathers the same rows.
TEST(QuantDecode, TableAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 4 << 10;
  vk::Context ctx(options);
  check_gather(ctx, DType::q8_0, DType::f32, 301, 160, 1.0f, 15);
  check_gather(ctx, DType::q6_k, DType::f32, 41, 512, 1.0f, 16);
}

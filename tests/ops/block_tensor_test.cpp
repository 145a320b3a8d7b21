#include <gtest/gtest.h>

#include "base/error.hpp"
#include "ops/tensor.hpp"
#include "support/support.hpp"

using namespace vktrain;

// A block tensor's size is rows x whole blocks, its bytes go up and come back unchanged, and
// views of rows land on block boundaries, also when the rows span several allocations.
TEST(BlockTensor, HoldsWholeBlocksPerRowAcrossSpans) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 4 << 10;  // 144-byte Q4_K blocks, 2 per row: 14 rows per span
  vk::Context ctx(options);
  Tensor t = make_tensor(ctx, DType::q4_k, {37, 512}, "w");
  EXPECT_EQ(t.row_bytes(), 288u);
  EXPECT_EQ(t.bytes(), 37u * 288);
  ASSERT_GT(t.memory.spans().size(), 1u);
  auto bytes = test::random_bytes(t.bytes(), 7);
  write_bytes(ctx, t, bytes);
  EXPECT_EQ(read_bytes(ctx, t), bytes);

  Tensor rows = rows_view(t, 13, 5);  // crosses the first span boundary
  auto got = read_bytes(ctx, rows);
  ASSERT_EQ(got.size(), 5u * 288);
  EXPECT_TRUE(std::equal(got.begin(), got.end(), bytes.begin() + 13 * 288));
  Location at = locate(t, 20 * 512 + 256);  // the second block of row 20
  EXPECT_EQ(at.contiguous % 256, 0u);
}

TEST(BlockTensor, RefusesPartialBlocksAndElementAccess) {
  auto& ctx = test::context();
  auto message = test::error_message([&] { make_tensor(ctx, DType::q8_0, {4, 48}, "w"); });
  EXPECT_NE(message.find("[tensor] w (q8_0, [4, 48]): a row of 48 values is not a whole number"),
            std::string::npos) << message;
  Tensor t = make_tensor(ctx, DType::q8_0, {2, 64}, "w");
  message = test::error_message([&] { locate(t, 40); });
  EXPECT_NE(message.find("is inside a 32-value block"), std::string::npos) << message;
  message = test::error_message([&] { read_floats(ctx, t); });
  EXPECT_NE(message.find("does not hold f32, f16 or bf16 values"), std::string::npos) << message;
  message = test::error_message([&] { write_bytes(ctx, t, test::random_bytes(100, 1)); });
  EXPECT_NE(message.find("writing 100 bytes into w (q8_0, [2, 64]) of 136 bytes"),
            std::string::npos) << message;
}

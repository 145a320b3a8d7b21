#include <gtest/gtest.h>

#include <cstring>

#include "ops/column_sum.hpp"
#include "reference/reference.hpp"
#include "support/support.hpp"

using namespace vktrain;

class ColumnSum : public testing::TestWithParam<std::tuple<DType, int64_t, int64_t>> {};

TEST_P(ColumnSum, MatchesTheReferenceAndAccumulates) {
  auto& ctx = test::context();
  auto [dt, rows, cols] = GetParam();
  auto values = test::random_values(size_t(rows * cols), uint32_t(rows + cols), dt);
  auto start = test::random_values(size_t(cols), 5);
  Tensor x = test::tensor_with({rows, cols}, dt, values);
  Tensor fresh = test::tensor_with({cols}, DType::f32, start, "fresh");
  Tensor added = test::tensor_with({cols}, DType::f32, start, "added");
  vk::Recorder rec(ctx);
  ops::column_sum(rec, fresh, x, false);
  ops::column_sum(rec, added, x, true);
  rec.run();
  auto want = reference::column_sum(values, size_t(cols));
  std::vector<double> want_added(want);
  for (size_t c = 0; c < want.size(); ++c) want_added[c] += start[c];
  // f32 sums of `rows` terms of magnitude <= 1.
  EXPECT_LT(test::relative_error(read_floats(ctx, fresh), want), 1e-5);
  EXPECT_LT(test::relative_error(read_floats(ctx, added), want_added), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ColumnSum,
                         testing::Combine(testing::Values(DType::f32, DType::f16, DType::bf16),
                                          testing::Values(1, 63, 1000), testing::Values(1, 257)));

TEST(ColumnSumDeterminism, SameBitsEveryRun) {
  auto& ctx = test::context();
  auto values = test::random_values(3001 * 77, 3);
  Tensor x = test::tensor_with({3001, 77}, DType::f32, values);
  Tensor out = make_tensor(ctx, DType::f32, {77}, "sums");
  vk::Recorder rec(ctx);
  ops::column_sum(rec, out, x, false);
  rec.run();
  auto first = read_floats(ctx, out);
  rec.run();
  auto again = read_floats(ctx, out);
  EXPECT_EQ(std::memcmp(first.data(), again.data(), first.size() * 4), 0);
}

TEST(ColumnSumErrors, WrongResultSizeIsNamed) {
  auto& ctx = test::context();
  Tensor x = make_tensor(ctx, DType::f32, {4, 6}, "activations");
  Tensor out = make_tensor(ctx, DType::f32, {5}, "bias grad");
  vk::Recorder rec(ctx);
  EXPECT_NE(test::error_message([&] { ops::column_sum(rec, out, x, false); }).find("bias grad"),
            std::string::npos);
}

TEST(ColumnSumSpans, InputAndPartialsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // 13 rows of 300 floats per span
  vk::Context ctx(options);
  auto values = test::random_values(3001 * 300, 8);
  Tensor x = test::tensor_with({3001, 300}, DType::f32, values, "x", ctx);
  Tensor out = make_tensor(ctx, DType::f32, {300}, "sums");
  ASSERT_GT(x.memory.spans().size(), 200u);
  vk::Recorder rec(ctx);
  ops::column_sum(rec, out, x, false);
  rec.run();
  EXPECT_LT(test::relative_error(read_floats(ctx, out), reference::column_sum(values, 300)), 1e-5);
}

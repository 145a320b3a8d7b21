#include <gtest/gtest.h>

#include <cstring>

#include "ops/reduce.hpp"
#include "reference/reference.hpp"
#include "support/support.hpp"

using namespace vktrain;

class Reduce : public testing::TestWithParam<std::tuple<DType, int64_t>> {};

TEST_P(Reduce, SumAndSumOfSquaresMatchTheReference) {
  auto& ctx = test::context();
  auto [dt, n] = GetParam();
  auto values = test::random_values(size_t(n), uint32_t(n), dt);
  Tensor x = test::tensor_with({n}, dt, values);
  Tensor s = make_tensor(ctx, DType::f32, {1}, "sum"), q = make_tensor(ctx, DType::f32, {1}, "sq");
  vk::Recorder rec(ctx);
  ops::sum(rec, s, x);
  ops::sum_squares(rec, q, x);
  rec.run();
  double want_s = reference::sum(values), want_q = reference::sum_squares(values);
  // f32 accumulation over n terms of magnitude <= 1.
  EXPECT_NEAR(read_floats(ctx, s)[0], want_s, 2e-6 * n + 1e-6);
  EXPECT_NEAR(read_floats(ctx, q)[0], want_q, 2e-7 * want_q + 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Sizes, Reduce,
                         testing::Combine(testing::Values(DType::f32, DType::f16, DType::bf16),
                                          testing::Values(1, 255, 257, 100'003, 3'000'001)));

TEST(ReduceDeterminism, SameBitsEveryRun) {
  auto& ctx = test::context();
  auto values = test::random_values(1'234'567, 11);
  Tensor x = test::tensor_with({1'234'567}, DType::f32, values);
  Tensor s = make_tensor(ctx, DType::f32, {1}, "sum");
  vk::Recorder rec(ctx);
  ops::sum(rec, s, x);
  rec.run();
  float first = read_floats(ctx, s)[0];
  for (int i = 0; i < 3; ++i) {
    rec.run();
    float again = read_floats(ctx, s)[0];
    ASSERT_EQ(std::memcmp(&first, &again, 4), 0);
  }
}

TEST(ReduceDeterminism, EmptyTensorSumsToZero) {
  auto& ctx = test::context();
  Tensor x = make_tensor(ctx, DType::f32, {0}, "empty");
  Tensor s = test::tensor_with({1}, DType::f32, {5.0f});
  vk::Recorder rec(ctx);
  ops::sum(rec, s, x);
  rec.run();
  EXPECT_EQ(read_floats(ctx, s)[0], 0.0f);
}

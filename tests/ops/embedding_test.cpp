#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "base/error.hpp"
#include "ops/embedding.hpp"
#include "reference/embedding.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace embedding_test {
namespace {

// Ids in [0, vocab) drawn from a few `distinct` values, so that ids repeat.
std::vector<int32_t> random_ids(size_t n, int32_t vocab, int32_t distinct, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> pool(static_cast<size_t>(distinct));
  for (auto& id : pool) id = int32_t(rng() % uint32_t(vocab));
  pool.back() = vocab - 1;  // the last row too
  std::vector<int32_t> ids(n);
  for (auto& id : ids) id = pool[rng() % pool.size()];
  return ids;
}

struct EmbeddingTensors {
  Tensor ids, order, table, out, dout, dtable;
};

// The tensors of forward and backward for `ids` over a [vocab, cols] table.
EmbeddingTensors make_embedding(vk::Context& ctx, DType dt, const std::vector<int32_t>& ids,
                         int64_t vocab, int64_t cols, const std::vector<float>& table,
                         const std::vector<float>& dout, const std::vector<float>& dtable) {
  int64_t n = int64_t(ids.size());
  EmbeddingTensors e{make_tensor(ctx, DType::i32, {n}, "ids"), make_tensor(ctx, DType::i32, {n}, "order"),
              test::tensor_with({vocab, cols}, dt, table, "table", ctx),
              make_tensor(ctx, dt, {n, cols}, "out"), test::tensor_with({n, cols}, dt, dout, "dout", ctx),
              test::tensor_with({vocab, cols}, DType::f32, dtable, "dtable", ctx)};
  write_ints(ctx, e.ids, ids);
  write_ints(ctx, e.order, ops::embedding_token_order(ids, uint64_t(vocab)));
  return e;
}

// Forward and backward against the reference on `ctx`; forward must equal transformers' bits:
// the table value times the scale rounded to the dtype, the product rounded once.
void check(vk::Context& ctx, DType dt, int64_t tokens, int64_t vocab, int64_t cols, float scale,
           int32_t distinct) {
  auto ids = random_ids(size_t(tokens), int32_t(vocab), distinct, uint32_t(tokens + cols));
  auto table = test::random_values(size_t(vocab * cols), 1, dt);
  auto dout = test::random_values(size_t(tokens * cols), 2, dt);
  auto dtable = test::random_values(size_t(vocab * cols), 3);
  EmbeddingTensors e = make_embedding(ctx, dt, ids, vocab, cols, table, dout, dtable);
  vk::Recorder rec(ctx);
  ops::embedding_forward(rec, e.out, e.ids, e.table, scale);
  ops::embedding_backward(rec, e.dtable, e.dout, e.ids, e.order, scale);
  rec.run();
  float rounded = round_to(dt, scale);
  std::vector<double> want_out, want_dtable(dtable.begin(), dtable.end());
  reference::embedding_forward(want_out, ids, table, size_t(cols), rounded);
  for (auto& x : want_out) x = round_to(dt, float(x));
  auto got = read_floats(ctx, e.out);
  EXPECT_EQ(std::vector<double>(got.begin(), got.end()), want_out);
  reference::embedding_backward(want_dtable, dout, ids, size_t(cols), rounded);
  // f32 sums of a few dozen terms of magnitude <= scale.
  EXPECT_LT(test::relative_error(read_floats(ctx, e.dtable), want_dtable), 1e-5);
}

}  // namespace

class Embedding : public testing::TestWithParam<std::tuple<DType, float>> {};

TEST_P(Embedding, ForwardAndBackwardMatchTheReference) {
  auto [dt, scale] = GetParam();
  check(test::context(), dt, 37, 203, 75, scale, 11);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, Embedding,
                         testing::Combine(testing::Values(DType::f32, DType::f16, DType::bf16),
                                          testing::Values(1.0f, std::sqrt(75.0f))),
                         [](const auto& info) {
                           return fmt::format("{}_{}", dtype_name(std::get<0>(info.param)),
                                              std::get<1>(info.param) == 1.0f ? "unscaled" : "gemma");
                         });

TEST(EmbeddingSpans, TableAndRowsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = 16 << 10;  // 54 rows of 75 f32 per span
  vk::Context ctx(options);
  check(ctx, DType::f32, 130, 203, 75, 1.0f, 40);
  check(ctx, DType::bf16, 130, 203, 75, 3.0f, 40);
}

TEST(EmbeddingDeterminism, ManyRepeatedIdsSameBitsEveryRun) {
  auto& ctx = test::context();
  const int64_t tokens = 3001, vocab = 7, cols = 33;
  auto ids = random_ids(size_t(tokens), int32_t(vocab), 3, 9);
  auto dout = test::random_values(size_t(tokens * cols), 4);
  std::vector<float> zeros(size_t(vocab * cols), 0.0f);
  EmbeddingTensors e = make_embedding(ctx, DType::f32, ids, vocab, cols, zeros, dout, zeros);
  vk::Recorder rec(ctx);
  ops::embedding_backward(rec, e.dtable, e.dout, e.ids, e.order, 1.0f);
  rec.run();
  auto first = read_floats(ctx, e.dtable);
  write_floats(ctx, e.dtable, zeros);
  rec.run();
  auto again = read_floats(ctx, e.dtable);
  EXPECT_EQ(std::memcmp(first.data(), again.data(), first.size() * 4), 0);
  std::vector<double> want(zeros.size(), 0.0);
  reference::embedding_backward(want, dout, ids, size_t(cols), 1.0);
  // f32 sums of ~1000 terms of magnitude <= 1.
  EXPECT_LT(test::relative_error(first, want), 1e-5);
}

// dtable against central differences of L = sum(out * r) through the GPU forward, on rows that
// tokens use (the others have zero gradient either way).
TEST(EmbeddingGradient, MatchesFiniteDifferences) {
  auto& ctx = test::context();
  const int64_t tokens = 29, vocab = 41, cols = 13;
  const float scale = std::sqrt(13.0f);
  auto ids = random_ids(size_t(tokens), int32_t(vocab), 9, 5);
  auto table = test::random_values(size_t(vocab * cols), 6);
  auto r = test::random_values(size_t(tokens * cols), 7);
  std::vector<float> zeros(table.size(), 0.0f);
  EmbeddingTensors e = make_embedding(ctx, DType::f32, ids, vocab, cols, table, r, zeros);
  vk::Recorder backward(ctx), forward(ctx);
  ops::embedding_backward(backward, e.dtable, e.dout, e.ids, e.order, scale);
  backward.run();
  auto grad = read_floats(ctx, e.dtable);
  ops::embedding_forward(forward, e.out, e.ids, e.table, scale);
  auto loss = [&] {
    write_floats(ctx, e.table, table);
    forward.run();
    return test::dot(read_floats(ctx, e.out), r);
  };
  // The loss is linear in the table: what remains is f32 rounding of the perturbed outputs
  // (~1e-7 relative) over 2 eps.
  for (size_t k : test::sample_indices(ids.size(), 6, 8)) {
    size_t i = size_t(ids[k]) * cols + k % cols;
    EXPECT_NEAR(test::central_difference(table, i, 1e-2f, loss), grad[i], 1e-4) << i;
  }
}

TEST(EmbeddingErrors, BadInputsAreNamed) {
  auto& ctx = test::context();
  Tensor ids = make_tensor(ctx, DType::i32, {5}, "ids");
  Tensor order = make_tensor(ctx, DType::i32, {4}, "short order");
  Tensor table = make_tensor(ctx, DType::bf16, {10, 8}, "table");
  Tensor out = make_tensor(ctx, DType::bf16, {5, 7}, "narrow out");
  Tensor dout = make_tensor(ctx, DType::bf16, {5, 8}, "dout");
  Tensor dtable = make_tensor(ctx, DType::f32, {10, 8}, "dtable");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::embedding_forward(rec, out, ids, table); });
  EXPECT_NE(message.find("narrow out"), std::string::npos) << message;
  message = test::error_message([&] { ops::embedding_backward(rec, dtable, dout, ids, order); });
  EXPECT_NE(message.find("short order"), std::string::npos) << message;
  message = test::error_message([&] { ops::embedding_backward(rec, table, dout, ids, ids); });
  EXPECT_NE(message.find("must be f32: table"), std::string::npos) << message;
  std::vector<int32_t> bad = {3, 10, 1};
  message = test::error_message([&] { ops::embedding_token_order(bad, 10); });
  EXPECT_NE(message.find("token 1 has id 10"), std::string::npos) << message;
}

// The kernel cannot report a bad id; it must read a real row, never stray memory.
TEST(EmbeddingErrors, OutOfRangeIdsReadTheNearestRow) {
  auto& ctx = test::context();
  auto table = test::random_values(6 * 4, 3);
  Tensor t = test::tensor_with({6, 4}, DType::f32, table, "table");
  Tensor ids = make_tensor(ctx, DType::i32, {2}, "ids");
  Tensor out = make_tensor(ctx, DType::f32, {2, 4}, "out");
  write_ints(ctx, ids, std::vector<int32_t>{-5, 9});
  vk::Recorder rec(ctx);
  ops::embedding_forward(rec, out, ids, t);
  rec.run();
  std::vector<float> want(table.begin(), table.begin() + 4);
  want.insert(want.end(), table.end() - 4, table.end());
  EXPECT_EQ(read_floats(ctx, out), want);
}

// A run of one id over more tokens than lavapipe's loop limiter lets one invocation walk is
// refused there with the reason rather than summed short; other drivers sum it.
TEST(EmbeddingErrors, RunsLongerThanTheDriversLoopLimitAreRefused) {
  auto& ctx = test::context();
  const int64_t tokens = 70000, vocab = 3, cols = 2;
  std::vector<int32_t> ids(tokens, 1);
  Tensor ids_t = make_tensor(ctx, DType::i32, {tokens}, "ids");
  Tensor order_t = make_tensor(ctx, DType::i32, {tokens}, "order");
  write_ints(ctx, ids_t, ids);
  write_ints(ctx, order_t, ops::embedding_token_order(ids, vocab));
  Tensor dout = test::tensor_with({tokens, cols}, DType::f32,
                                  std::vector<float>(size_t(tokens * cols), 0.5f), "dout", ctx);
  Tensor dtable = test::tensor_with({vocab, cols}, DType::f32, std::vector<float>(vocab * cols, 0.0f),
                                    "dtable", ctx);
  vk::Recorder rec(ctx);
  auto message = test::error_message(
      [&] { ops::embedding_backward(rec, dtable, dout, ids_t, order_t, 1.0f); });
  if (ctx.caps().loop_limit) {
    EXPECT_NE(message.find("[embedding_backward] the gradient of 70000 tokens of 2 channels needs"),
              std::string::npos) << message;
    return;
  }
  EXPECT_EQ(message, "");
  rec.run();
  EXPECT_EQ(read_floats(ctx, dtable), (std::vector<float>{0, 0, 35000, 35000, 0, 0}));
}

}  // namespace embedding_test

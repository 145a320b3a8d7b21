// Attention sinks (gpt-oss, AttentionOptions::sinks): a learned logit per query head that joins
// every row's softmax as an unscaled column with a zero value. The portable kernels against the
// reference, the sinks' gradient against finite differences, and the op's checks; the
// cooperative-matrix kernels in attention_test.cpp (AttentionCoopmat.WithSinks...), the decode
// kernel in attention_decode_test.cpp.
#include <gtest/gtest.h>

#include <cstring>

#include <fmt/format.h>

#include "attention_runs.hpp"

using namespace vktrain;
using namespace vktrain::test;

namespace {

struct SinksCase {
  const char* name;
  DType dtype;
  AttentionShape shape;
};

// T = 37 and head_dims 24 and 72 are no multiples of the tiles (64 / 32 rows, 16 accumulator
// columns); 6 query heads on 2 kv heads. Every mask: causal with a window over packed documents,
// and full attention (where each row sees every key, so the sinks alone change the rows). Head
// dim 72 is attention_test.cpp's full_window_d72 in f32 and bf16: the same pipelines, which
// lavapipe compiles once for both (compiling dominates there).
std::vector<SinksCase> sinks_cases() {
  return {{"causal_window_documents_gqa3_d24", DType::f32,
           with_sinks(with_documents({2, 37, 6, 2, 24, true, 13, 0.2}, {15, 22}))},
          {"full_gqa3_d72", DType::f32, with_sinks({1, 37, 6, 2, 72, false, 0, 0.118})},
          {"causal_gqa3_d72", DType::bf16, with_sinks({1, 37, 6, 2, 72, true, 0, 0.118})},
          // At most 32 tokens: the short tiles (16 x 16).
          {"short_causal_window_documents_gqa3_d24", DType::f32,
           with_sinks(with_documents({2, 23, 6, 2, 24, true, 9, 0.2}, {10, 13}))}};
}

std::string sinks_name(const testing::TestParamInfo<SinksCase>& info) {
  return fmt::format("{}_{}", dtype_name(info.param.dtype), info.param.name);
}

}  // namespace

class AttentionSinks : public testing::TestWithParam<SinksCase> {};

// The forward's o and lse, the backward's dq, dk, dv and dsinks (added into and written).
TEST_P(AttentionSinks, MatchTheReference) {
  const SinksCase& c = GetParam();
  check_forward(c.shape, c.dtype, AttentionVariant::portable, portable_tolerances(c.dtype));
  check_backward(c.shape, c.dtype, AttentionVariant::portable, portable_tolerances(c.dtype));
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionSinks, testing::ValuesIn(sinks_cases()), sinks_name);

// dsinks against central differences of L = sum(o * r) through the GPU forward, every head; and
// the same bits on a second run (a fixed-order sum, no atomics).
TEST(AttentionSinksGradient, MatchesFiniteDifferencesAndRepeats) {
  AttentionShape s = sinks_cases()[0].shape;
  Inputs in = random_inputs(s, DType::f32, 71);
  auto r = random_values(in.q.size(), 74);
  Gradients got = run_backward(s, DType::f32, in, r);
  Gradients again = run_backward(s, DType::f32, in, r);
  EXPECT_EQ(std::memcmp(got.dsinks.data(), again.dsinks.data(), got.dsinks.size() * 4), 0);
  auto loss = [&] { return dot(run_forward(s, DType::f32, in).o, r); };
  std::vector<float> numeric;
  for (size_t h = 0; h < s.Hq; ++h)
    numeric.push_back(float(central_difference(s.sinks, h, 1e-2f, loss)));
  // As AttentionFiniteDifferences: an O(eps^2) truncation error, f32 terms that cancel.
  EXPECT_LT(relative_error(numeric, got.dsinks), 2e-3);
}

// A model writes dq, dk and dv while the sinks' gradient adds up over micro-batches: the store
// of dsinks apart from the others'.
TEST(AttentionSinksGradient, AddsWhileTheInputGradientsAreWritten) {
  AttentionShape s = sinks_cases()[0].shape;
  Inputs in = random_inputs(s, DType::f32, 81);
  auto r = random_values(in.q.size(), 82);
  Gradients written = run_backward(s, DType::f32, in, r);
  Gradients start{random_values(in.q.size(), 83), random_values(in.k.size(), 84),
                  random_values(in.v.size(), 85), random_values(s.Hq, 86)};
  Gradients mixed = run_backward(s, DType::f32, in, r, start, ops::GradientStore::write,
                                 AttentionVariant::portable, 0, {}, ops::GradientStore::add);
  EXPECT_EQ(mixed.dq, written.dq);
  EXPECT_EQ(mixed.dk, written.dk);
  EXPECT_EQ(mixed.dv, written.dv);
  for (size_t h = 0; h < s.Hq; ++h)
    EXPECT_FLOAT_EQ(mixed.dsinks[h], start.dsinks[h] + written.dsinks[h]) << h;
}

TEST(AttentionSinksErrors, BadSinksAreNamed) {
  auto& ctx = context();
  Tensor q = make_tensor(ctx, DType::f32, {1, 8, 4, 16}, "q"),
         kv = make_tensor(ctx, DType::f32, {1, 8, 2, 16}, "kv"),
         o = make_tensor(ctx, DType::f32, {1, 8, 4, 16}, "o"),
         lse = make_tensor(ctx, DType::f32, {1, 4, 8}, "lse"),
         dq = make_tensor(ctx, DType::f32, {1, 8, 4, 16}, "dq"),
         dkv = make_tensor(ctx, DType::f32, {1, 8, 2, 16}, "dkv"),
         by_kv_head = make_tensor(ctx, DType::f32, {2}, "sinks by kv head"),
         half = make_tensor(ctx, DType::f16, {4}, "half dsinks"),
         dsinks = make_tensor(ctx, DType::f32, {4}, "dsinks");
  ops::AttentionOptions options;
  options.scale = 0.25f;
  vk::Recorder rec(ctx);
  auto expect = [](const std::string& message, const char* part) {
    EXPECT_NE(message.find(part), std::string::npos) << message;
  };
  ops::AttentionOptions bad = options;
  bad.sinks = &by_kv_head;
  expect(error_message([&] { ops::attention_forward(rec, o, lse, q, kv, kv, bad); }),
         "[attention_forward] sinks must be f32 [Hq] = [4], one per query head, got sinks by kv "
         "head (f32, [2])");
  auto backward = [&](const ops::AttentionOptions& opt, Tensor* ds) {
    return error_message([&] {
      ops::attention_backward(rec, dq, dkv, dkv, o, q, kv, kv, o, lse, opt,
                              ops::GradientStore::add, ds);
    });
  };
  expect(backward(options, &dsinks),
         "[attention_backward] dsinks dsinks (f32, [4]) was passed without options.sinks");
  ops::AttentionOptions with_sinks = options;
  with_sinks.sinks = &dsinks;
  expect(backward(with_sinks, &half), "dsinks must be f32 [Hq] = [4], one per query head, got half");
}

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "base/error.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
#include "reference/cross_entropy.hpp"
#include "support/support.hpp"

using namespace vktrain;

namespace cross_entropy_test {
namespace {

constexpr int32_t kIgnored = -100;

// Labels in [0, vocab) (the last class included), every 7th ignored, and tokens [ignored_from,
// ignored_to) all ignored.
std::vector<int32_t> random_labels(size_t n, int32_t vocab, uint32_t seed, size_t ignored_from = 0,
                                   size_t ignored_to = 0) {
  std::mt19937 rng(seed);
  std::vector<int32_t> labels(n);
  for (size_t t = 0; t < n; ++t) {
    bool ignored = t % 7 == 3 || (t >= ignored_from && t < ignored_to);
    labels[t] = ignored ? kIgnored : t == 0 ? vocab - 1 : int32_t(rng() % uint32_t(vocab));
  }
  return labels;
}

struct Sizes {
  std::vector<int64_t> tokens;  // per micro-batch
  int64_t vocab, channels;
  uint64_t chunk;               // CrossEntropyOptions::chunk_tokens
  bool trainable = true;        // the lm_head has a gradient
};

// One step over all micro-batches (the mean over their non-ignored tokens together) against
// the reference, dh added into or written over random values as `store` says; also the
// loss-only mode on the same data.
void check(vk::Context& ctx, DType dt, const Sizes& s, size_t ignored_from = 0,
           size_t ignored_to = 0, ops::GradientStore store = ops::GradientStore::add) {
  auto w = test::random_values(size_t(s.vocab * s.channels), 1, dt);
  // Gradients start at random values of the size of the gradients themselves (~1 / count).
  auto dw = test::random_values(w.size(), 2, DType::f32, 1e-2f);
  Tensor w_t = test::tensor_with({s.vocab, s.channels}, dt, w, "lm_head", ctx);
  Tensor dw_t = test::tensor_with({s.vocab, s.channels}, DType::f32, dw, "lm_head grad", ctx);
  Tensor loss = test::tensor_with({1}, DType::f32, {0.5f}, "loss", ctx);
  Tensor eval_loss = test::tensor_with({1}, DType::f32, {0.5f}, "eval loss", ctx);
  Tensor scale = make_tensor(ctx, DType::f32, {1}, "grad scale");
  std::vector<Tensor> h_t, dh_t, labels_t;
  std::vector<std::vector<float>> h, dh;
  std::vector<std::vector<int32_t>> labels;
  for (size_t b = 0; b < s.tokens.size(); ++b) {
    int64_t n = s.tokens[b];
    h.push_back(test::random_values(size_t(n * s.channels), uint32_t(10 + b), dt));
    dh.push_back(test::random_values(size_t(n * s.channels), uint32_t(20 + b), dt, 1e-2f));
    labels.push_back(random_labels(size_t(n), int32_t(s.vocab), uint32_t(30 + b), ignored_from, ignored_to));
    h_t.push_back(test::tensor_with({n, s.channels}, dt, h.back(), "h", ctx));
    dh_t.push_back(test::tensor_with({n, s.channels}, dt, dh.back(), "dh", ctx));
    labels_t.push_back(make_tensor(ctx, DType::i32, {n, 1}, "labels"));  // splits by rows
    write_ints(ctx, labels_t.back(), labels.back());
  }
  vk::Recorder rec(ctx);
  std::vector<const Tensor*> all_labels;
  for (const Tensor& t : labels_t) all_labels.push_back(&t);
  ops::cross_entropy_grad_scale(rec, scale, all_labels);
  ops::CrossEntropyOptions options{s.chunk};
  for (size_t b = 0; b < s.tokens.size(); ++b) {
    ops::cross_entropy_loss_and_grad(rec, loss, dh_t[b], s.trainable ? &dw_t : nullptr, h_t[b],
                                     w_t, labels_t[b], scale, options, store);
    ops::cross_entropy_loss(rec, eval_loss, h_t[b], w_t, labels_t[b], options);
  }
  rec.run();

  size_t count = 0;
  for (const auto& l : labels) count += size_t(std::count_if(l.begin(), l.end(), [](int32_t x) { return x >= 0; }));
  // dlogits are rounded to the dtype (2^-11 f16, 2^-8 bf16 relative) before the products, dh
  // once more; in f32 what remains is f32 exp and accumulation (dW over the chunks).
  double tolerance = dt == DType::f32 ? 1e-5 : dt == DType::f16 ? 2e-3 : 1.5e-2;
  double want_loss = 0.5;
  std::vector<double> want_dw(dw.begin(), dw.end());
  for (size_t b = 0; b < s.tokens.size(); ++b) {
    std::vector<double> losses, want_dh(dh[b].size(), 0.0);
    if (store == ops::GradientStore::add) want_dh.assign(dh[b].begin(), dh[b].end());
    reference::cross_entropy(losses, &want_dh, s.trainable ? &want_dw : nullptr, h[b], w,
                             labels[b], size_t(s.channels), 1.0 / double(count));
    for (double x : losses) want_loss += x;
    EXPECT_LT(test::relative_error(read_floats(ctx, dh_t[b]), want_dh), tolerance) << "dh " << b;
  }
  // f32 logits from inputs exact in the dtype, f32 logsumexp and a fixed-order f32 sum.
  for (const Tensor* t : {&loss, &eval_loss})
    EXPECT_LT(test::relative_error(read_floats(ctx, *t), std::vector<double>{want_loss}), 1e-5)
        << t->name;
  EXPECT_FLOAT_EQ(read_floats(ctx, scale)[0], 1.0f / float(count));
  EXPECT_LT(test::relative_error(read_floats(ctx, dw_t), want_dw), tolerance);
}

}  // namespace

class CrossEntropy : public testing::TestWithParam<DType> {};

// 37 tokens in chunks of 8 (the last one of 5), a vocabulary that is no multiple of a tile, and
// tokens 8..15 ignored: one whole chunk without targets.
TEST_P(CrossEntropy, LossAndGradientsMatchTheReference) {
  for (auto store : {ops::GradientStore::add, ops::GradientStore::write}) {
    SCOPED_TRACE(store == ops::GradientStore::add ? "add" : "write");
    check(test::context(), GetParam(), {{37}, 203, 24, 8}, 8, 16, store);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, CrossEntropy,
                         testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(CrossEntropyModes, FrozenLmHeadAndDefaultChunks) {
  check(test::context(), DType::bf16, {{37}, 203, 24, 0, false});
}

TEST(CrossEntropyModes, MeanOverTwoMicroBatches) {
  check(test::context(), DType::bf16, {{13, 9}, 97, 16, 5});
  check(test::context(), DType::bf16, {{13, 9}, 97, 16, 5}, 0, 0, ops::GradientStore::write);
}

// The default chunk: the fewest chunks within the budget, even, on whole 128-row tiles when that
// computes fewer padding rows. Vocabularies sized so that the budget holds exactly `most` rows.
TEST(CrossEntropyChunks, EvenChunksOnWholeTiles) {
  const auto& caps = test::context().caps();
  for (bool head_gradient : {false, true}) {
    const uint64_t budget = ops::cross_entropy_chunk_bytes(caps, head_gradient);
    auto rows = [&](uint64_t tokens, uint64_t vocab) {
      return ops::cross_entropy_chunk_rows(tokens, vocab, caps, head_gradient);
    };
    const uint64_t vocab = budget / 4 / 1024;  // most = 1024 rows
    EXPECT_EQ(rows(2500, vocab), 896u);         // 3 x 834 -> 896
    EXPECT_EQ(rows(2100, vocab), 768u);         // 3 x 700 -> 768
    EXPECT_EQ(rows(900, vocab), 900u);          // one chunk: all tokens
    EXPECT_EQ(rows(4096, vocab), 1024u);        // 4 whole chunks
    // most = 838: 896 would not fit. 2 x 800 compute 2 x 7 tiles; 3 chunks of up to 640
    // (640, 640, 320) compute 5 + 5 + 3.
    EXPECT_EQ(rows(1600, budget / 4 / 838), 640u);
    // most = 441 (V 151,936 in 256 MiB): 10 x 410 compute 10 x 4 tiles, 384s 10 x 3 + 2.
    EXPECT_EQ(rows(4096, budget / 4 / 441), 384u);
    EXPECT_EQ(rows(5, budget), 1u);  // not one row fits: 1
  }
  // A frozen lm_head takes a quarter of the chunk on a GPU; a CPU driver takes 64 MiB either way.
  EXPECT_EQ(ops::cross_entropy_chunk_bytes(caps, true),
            caps.is_gpu() ? 4 * ops::cross_entropy_chunk_bytes(caps, false) : 64ull << 20);
}

class CrossEntropySpans : public testing::TestWithParam<std::pair<uint64_t, Sizes>> {};

// 16 KiB spans: 25 rows of the 40-column f32 lm_head, 20 rows of logits per chunk. 512 bytes:
// 128 labels, 18 rows of logits per chunk, 42 rows of h.
TEST_P(CrossEntropySpans, OperandsScratchAndLabelsSplitAcrossAllocations) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  options.memory.max_span = GetParam().first;
  vk::Context ctx(options);
  check(ctx, DType::f32, GetParam().second);
}

INSTANTIATE_TEST_SUITE_P(Sizes, CrossEntropySpans,
                         testing::Values(std::pair<uint64_t, Sizes>{16 << 10, {{150}, 203, 40, 64}},
                                         std::pair<uint64_t, Sizes>{512, {{300}, 7, 3, 64}}));

TEST(CrossEntropyModes, EveryLabelIgnoredAddsOrWritesZeros) {
  auto& ctx = test::context();
  Tensor h = test::tensor_with({3, 4}, DType::f32, test::random_values(12, 1), "h");
  Tensor w = test::tensor_with({5, 4}, DType::f32, test::random_values(20, 2), "w");
  Tensor dh = test::tensor_with({3, 4}, DType::f32, std::vector<float>(12, 0.0f), "dh");
  Tensor written = test::tensor_with({3, 4}, DType::f32, test::random_values(12, 3), "dh written");
  Tensor loss = test::tensor_with({1}, DType::f32, {0.0f}, "loss");
  Tensor scale = make_tensor(ctx, DType::f32, {1}, "grad scale");
  Tensor labels = make_tensor(ctx, DType::i32, {3}, "labels");
  write_ints(ctx, labels, std::vector<int32_t>(3, kIgnored));
  vk::Recorder rec(ctx);
  ops::cross_entropy_grad_scale(rec, scale, {&labels});
  ops::cross_entropy_loss_and_grad(rec, loss, dh, nullptr, h, w, labels, scale);
  ops::cross_entropy_loss_and_grad(rec, loss, written, nullptr, h, w, labels, scale, {},
                                   ops::GradientStore::write);
  rec.run();
  EXPECT_EQ(read_floats(ctx, scale)[0], 0.0f);
  EXPECT_EQ(read_floats(ctx, loss)[0], 0.0f);
  EXPECT_EQ(read_floats(ctx, dh), std::vector<float>(12, 0.0f));
  EXPECT_EQ(read_floats(ctx, written), std::vector<float>(12, 0.0f));
}

// dh and dW of the summed loss (grad_scale 1) against central differences of the loss-only
// mode's value, and that value's bits on a replay.
TEST(CrossEntropyGradient, MatchesFiniteDifferences) {
  auto& ctx = test::context();
  const int64_t tokens = 11, vocab = 75, channels = 16;
  auto h = test::random_values(size_t(tokens * channels), 1);
  auto w = test::random_values(size_t(vocab * channels), 2);
  auto labels = random_labels(size_t(tokens), int32_t(vocab), 3);
  Tensor h_t = make_tensor(ctx, DType::f32, {tokens, channels}, "h");
  Tensor w_t = make_tensor(ctx, DType::f32, {vocab, channels}, "w");
  Tensor dh_t = test::tensor_with({tokens, channels}, DType::f32, std::vector<float>(h.size(), 0.0f), "dh");
  Tensor dw_t = test::tensor_with({vocab, channels}, DType::f32, std::vector<float>(w.size(), 0.0f), "dw");
  Tensor labels_t = make_tensor(ctx, DType::i32, {tokens}, "labels");
  Tensor loss = make_tensor(ctx, DType::f32, {1}, "loss");
  Tensor one = test::tensor_with({1}, DType::f32, {1.0f}, "one");
  write_ints(ctx, labels_t, labels);
  write_floats(ctx, h_t, h);
  write_floats(ctx, w_t, w);
  ops::CrossEntropyOptions options{4};
  vk::Recorder backward(ctx), forward(ctx);
  ops::cross_entropy_loss_and_grad(backward, loss, dh_t, &dw_t, h_t, w_t, labels_t, one, options);
  backward.run();
  auto dh = read_floats(ctx, dh_t), dw = read_floats(ctx, dw_t);
  ops::fill(forward, loss, 0.0f);
  ops::cross_entropy_loss(forward, loss, h_t, w_t, labels_t, options);
  auto loss_value = [&] {
    write_floats(ctx, h_t, h);
    write_floats(ctx, w_t, w);
    forward.run();
    return double(read_floats(ctx, loss)[0]);
  };
  double first = loss_value(), again = loss_value();
  EXPECT_EQ(first, again);  // the same f32 bits on a replay
  // The loss (~50) is an f32 sum: its rounding (~4e-6) over 2 eps = 0.04 gives ~1e-4; the
  // truncation eps^2 |L'''| / 6 is smaller still; gradients are O(1).
  for (size_t i : test::sample_indices(h.size(), 6, 4))
    EXPECT_NEAR(test::central_difference(h, i, 2e-2f, loss_value), dh[i], 2e-3) << "h " << i;
  for (size_t i : test::sample_indices(w.size(), 6, 5))
    EXPECT_NEAR(test::central_difference(w, i, 2e-2f, loss_value), dw[i], 2e-3) << "w " << i;
}

TEST(CrossEntropyErrors, BadInputsAreNamed) {
  auto& ctx = test::context();
  Tensor h = make_tensor(ctx, DType::bf16, {6, 8}, "hidden");
  Tensor w = make_tensor(ctx, DType::bf16, {10, 7}, "narrow lm_head");
  Tensor w_ok = make_tensor(ctx, DType::bf16, {10, 8}, "lm_head");
  Tensor dh = make_tensor(ctx, DType::bf16, {6, 8}, "dh");
  Tensor dw = make_tensor(ctx, DType::bf16, {10, 8}, "bf16 lm_head grad");
  Tensor labels = make_tensor(ctx, DType::i32, {6}, "labels");
  Tensor float_labels = make_tensor(ctx, DType::f32, {6}, "float labels");
  Tensor loss = make_tensor(ctx, DType::f32, {1}, "loss");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::cross_entropy_loss(rec, loss, h, w, labels); });
  EXPECT_NE(message.find("narrow lm_head"), std::string::npos) << message;
  message = test::error_message([&] { ops::cross_entropy_loss(rec, loss, h, w_ok, float_labels); });
  EXPECT_NE(message.find("float labels"), std::string::npos) << message;
  message = test::error_message(
      [&] { ops::cross_entropy_loss_and_grad(rec, loss, dh, &dw, h, w_ok, labels, loss); });
  EXPECT_NE(message.find("bf16 lm_head grad"), std::string::npos) << message;
  message = test::error_message([&] { ops::cross_entropy_grad_scale(rec, loss, {&float_labels}); });
  EXPECT_NE(message.find("float labels"), std::string::npos) << message;
}

}  // namespace cross_entropy_test

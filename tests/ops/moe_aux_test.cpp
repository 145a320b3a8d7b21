#include <gtest/gtest.h>

#include "ops/moe_aux.hpp"
#include "ops/moe_router.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::GradientStore;

namespace {

constexpr size_t kLayers = 3, kT = 37, kE = 5, kK = 2;
constexpr float kCoefficient = 0.25f;

// Every layer's router and statistics, the loss, and each layer's loss gradient added into
// dlogits (which start at `start`), with an attention mask (empty: none), recorded once and run
// on each call.
struct AuxLoss {
  std::vector<Tensor> logits, ids, dlogits;
  Tensor loss, mask;
  vk::Recorder rec;

  explicit AuxLoss(const std::vector<int32_t>& mask_host = {}) : rec(test::context()) {
    auto& ctx = test::context();
    int64_t T = kT, E = kE, K = kK;
    Tensor stats = make_tensor(ctx, DType::f32, {2, E + 1}, "stats");
    loss = make_tensor(ctx, DType::f32, {1}, "loss");
    Tensor weights = make_tensor(ctx, DType::f32, {T, K}, "weights");
    Tensor probs = make_tensor(ctx, DType::f32, {T, E}, "probs");
    const Tensor* token_mask = nullptr;
    if (!mask_host.empty()) {
      mask = make_tensor(ctx, DType::i32, {T}, "mask");
      write_ints(ctx, mask, mask_host);
      token_mask = &mask;
    }
    for (size_t l = 0; l < kLayers; ++l) {
      logits.push_back(make_tensor(ctx, DType::f32, {T, E}, "logits"));
      ids.push_back(make_tensor(ctx, DType::i32, {T, K}, "ids"));
      dlogits.push_back(make_tensor(ctx, DType::f32, {T, E}, "dlogits"));
      ops::moe_router_forward(rec, ids[l], weights, &probs, logits[l], {});
      ops::moe_aux_statistics(rec, stats, probs, ids[l], token_mask,
                              l == 0 ? GradientStore::write : GradientStore::add);
    }
    ops::moe_aux_loss(rec, loss, stats, kCoefficient);
    for (size_t l = 0; l < kLayers; ++l)
      ops::moe_aux_loss_backward(rec, dlogits[l], logits[l], stats, kCoefficient, token_mask,
                                 GradientStore::add);
  }

  double run(const std::vector<std::vector<float>>& z, const std::vector<float>& start) {
    auto& ctx = test::context();
    for (size_t l = 0; l < kLayers; ++l) {
      write_floats(ctx, logits[l], z[l]);
      write_floats(ctx, dlogits[l], start);
    }
    rec.run();
    return read_floats(ctx, loss)[0];
  }
};

// Padding at the end of two sequences and in the middle (packed rows): 0 where masked.
std::vector<int32_t> padding_mask() {
  std::vector<int32_t> mask(kT, 1);
  for (size_t t : {5u, 6u, 17u, 30u, 31u, 32u, 33u, 34u, 35u, 36u}) mask[t] = 0;
  return mask;
}

}  // namespace

class MoeAuxLoss : public testing::TestWithParam<bool> {};

// Without a mask, and with transformers' attention-mask branch.
TEST_P(MoeAuxLoss, LossAndGradientMatchTheReference) {
  auto& ctx = test::context();
  auto mask = GetParam() ? padding_mask() : std::vector<int32_t>{};
  AuxLoss aux(mask);
  std::vector<std::vector<float>> z;
  for (size_t l = 0; l < kLayers; ++l)
    z.push_back(test::random_values(kT * kE, 70 + uint32_t(l), DType::f32, 3.0f));
  auto start = test::random_values(kT * kE, 75, DType::f32, 1e-3f);
  double loss = aux.run(z, start);
  std::vector<std::vector<int32_t>> ids;
  for (size_t l = 0; l < kLayers; ++l) ids.push_back(read_ints(ctx, aux.ids[l]));
  EXPECT_NEAR(loss, reference::moe_aux_loss(z, ids, kT, kE, kK, kCoefficient, mask), 1e-6);
  for (size_t l = 0; l < kLayers; ++l) {
    std::vector<double> want(start.begin(), start.end());
    reference::moe_aux_loss_backward(want, z, ids, l, kT, kE, kK, kCoefficient, mask);
    EXPECT_LT(test::relative_error(read_floats(ctx, aux.dlogits[l]), want), 1e-5) << l;
  }
}

// Every layer's gradient against central differences of the loss through the GPU forward.
TEST_P(MoeAuxLoss, GradientMatchesFiniteDifferences) {
  auto& ctx = test::context();
  AuxLoss aux(GetParam() ? padding_mask() : std::vector<int32_t>{});
  std::vector<std::vector<float>> z;
  for (size_t l = 0; l < kLayers; ++l)
    z.push_back(reference::moe_ladder_logits(kT, kE, 80 + uint32_t(l)));
  std::vector<float> zeros(kT * kE, 0.0f);
  aux.run(z, zeros);
  for (size_t l = 0; l < kLayers; ++l) {
    auto grads = read_floats(ctx, aux.dlogits[l]);
    for (size_t i : test::sample_indices(kT * kE, 5, 81 + uint32_t(l))) {
      auto loss = [&] { return aux.run(z, zeros); };
      // L ~ 0.5 is summed in f32 (a few ulps, 6e-8 each) and the gradients are ~1e-4: a wide
      // eps (the ladder logits keep every choice within 0.05) keeps the difference's rounding
      // small.
      EXPECT_NEAR(test::central_difference(z[l], i, 5e-2f, loss), grads[i], 2e-6) << l << " " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Masks, MoeAuxLoss, testing::Bool(),
                         [](const auto& info) { return info.param ? "padding" : "no_mask"; });

TEST(MoeAuxLossErrors, ShapesAreNamed) {
  auto& ctx = test::context();
  Tensor stats = make_tensor(ctx, DType::f32, {3, 4}, "stats");
  Tensor loss = make_tensor(ctx, DType::f32, {1}, "loss");
  vk::Recorder rec(ctx);
  auto message = test::error_message([&] { ops::moe_aux_loss(rec, loss, stats, 0.1f); });
  EXPECT_NE(message.find("stats (f32, [3, 4]) must be [2, E + 1]"), std::string::npos) << message;
  Tensor stats2 = make_tensor(ctx, DType::f32, {2, 4}, "stats2");
  Tensor logits = make_tensor(ctx, DType::f32, {7, 3}, "logits");
  Tensor mask = make_tensor(ctx, DType::i32, {6}, "mask");
  message = test::error_message(
      [&] { ops::moe_aux_loss_backward(rec, logits, logits, stats2, 0.1f, &mask); });
  EXPECT_NE(message.find("mask (i32, [6]) must have shape [7]"), std::string::npos) << message;
}

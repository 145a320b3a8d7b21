#include <gtest/gtest.h>

#include <cmath>

#include "ops/moe_router.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"

using namespace vktrain;
using ops::GradientStore;
using ops::MoeRouter;
using ops::MoeRouting;

namespace {

struct Case {
  const char* name;
  MoeRouter router;
  size_t T, E, k;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

struct RouterRun {
  std::vector<int32_t> ids;
  std::vector<float> weights, probs, dlogits;
};

// Forward and backward (dweights = dw into dlogits, which start at `start` for `add`) in one
// recording.
RouterRun run_router(const Case& c, const std::vector<float>& logits, const std::vector<float>& dw,
                     const std::vector<float>& start, GradientStore store) {
  auto& ctx = test::context();
  int64_t T = int64_t(c.T), E = int64_t(c.E), k = int64_t(c.k);
  Tensor z = test::tensor_with({T, E}, DType::f32, logits, "logits");
  Tensor ids = make_tensor(ctx, DType::i32, {T, k}, "ids");
  Tensor weights = make_tensor(ctx, DType::f32, {T, k}, "weights");
  Tensor probs = make_tensor(ctx, DType::f32, {T, E}, "probs");
  Tensor dweights = test::tensor_with({T, k}, DType::f32, dw, "dweights");
  Tensor dlogits = test::tensor_with({T, E}, DType::f32, start, "dlogits");
  vk::Recorder rec(ctx);
  ops::moe_router_forward(rec, ids, weights, &probs, z, c.router);
  ops::moe_router_backward(rec, dlogits, dweights, z, ids, c.router, store);
  rec.run();
  return {read_ints(ctx, ids), read_floats(ctx, weights), read_floats(ctx, probs),
          read_floats(ctx, dlogits)};
}

void expect_reference(const Case& c, const std::vector<float>& logits) {
  auto dw = test::random_values(c.T * c.k, 11);
  auto start = test::random_values(c.T * c.E, 12);
  auto want = reference::moe_router_forward(logits, c.T, c.E, c.k, c.router);
  for (GradientStore store : {GradientStore::add, GradientStore::write}) {
    SCOPED_TRACE(store == GradientStore::add ? "add" : "write");
    RouterRun got = run_router(c, logits, dw, start, store);
    EXPECT_EQ(got.ids, want.ids);
    EXPECT_LT(test::relative_error(got.weights, want.weights), 1e-5);
    EXPECT_LT(test::relative_error(got.probs, want.probs), 1e-5);
    std::vector<double> dlogits(c.T * c.E, 0.0);
    if (store == GradientStore::add) dlogits.assign(start.begin(), start.end());
    reference::moe_router_backward(dlogits, dw, logits, c.T, c.E, c.k, c.router);
    EXPECT_LT(test::relative_error(got.dlogits, dlogits), 1e-5);
  }
}

const Case kCases[] = {
    {"qwen3_moe_norm_topk", {MoeRouting::softmax_topk, true}, 37, 5, 2},
    {"qwen3_moe_raw_topk", {MoeRouting::softmax_topk, false}, 37, 5, 2},
    {"mixtral", {MoeRouting::softmax_topk, true}, 29, 8, 2},
    {"gpt_oss", {MoeRouting::topk_softmax, true}, 37, 5, 2},
    {"qwen3_moe_k_is_e", {MoeRouting::softmax_topk, true}, 13, 6, 6},
    {"gpt_oss_k_is_e", {MoeRouting::topk_softmax, true}, 13, 6, 6},
    {"wide", {MoeRouting::softmax_topk, false}, 9, 130, 8},
};

}  // namespace

class MoeRouterCases : public testing::TestWithParam<Case> {};

TEST_P(MoeRouterCases, ForwardAndBackwardMatchTheReference) {
  const Case& c = GetParam();
  expect_reference(c, test::random_values(c.T * c.E, 3, DType::f32, 4.0f));
}

// Logits drawn from four values, so most rows hold ties: the lower expert index wins them, as
// the reference's stable sort does, and the weights and gradients still match.
TEST_P(MoeRouterCases, TiesGoToTheLowerExpert) {
  const Case& c = GetParam();
  auto logits = test::random_values(c.T * c.E, 4);
  for (float& z : logits) z = std::round(z * 2.0f) * 0.5f + 0.25f;
  expect_reference(c, logits);
}

// dlogits against central differences of L = sum(weights * r) through the GPU forward, on
// ladder logits: no choice changes within eps.
TEST_P(MoeRouterCases, BackwardMatchesFiniteDifferences) {
  const Case& c = GetParam();
  auto& ctx = test::context();
  int64_t T = int64_t(c.T), E = int64_t(c.E), k = int64_t(c.k);
  auto logits = reference::moe_ladder_logits(c.T, c.E, 5);
  auto r = test::random_values(c.T * c.k, 6);
  Tensor z = make_tensor(ctx, DType::f32, {T, E}, "logits");
  Tensor ids = make_tensor(ctx, DType::i32, {T, k}, "ids");
  Tensor weights = make_tensor(ctx, DType::f32, {T, k}, "weights");
  vk::Recorder forward(ctx);
  ops::moe_router_forward(forward, ids, weights, nullptr, z, c.router);
  auto loss = [&] {
    write_floats(ctx, z, logits);
    forward.run();
    return test::dot(read_floats(ctx, weights), r);
  };
  RouterRun grads =
      run_router(c, logits, r, std::vector<float>(c.T * c.E, 0.0f), GradientStore::write);
  for (size_t i : test::sample_indices(c.T * c.E, 12, 7))
    EXPECT_NEAR(test::central_difference(logits, i, 1e-2f, loss), grads.dlogits[i], 2e-3) << i;
}

INSTANTIATE_TEST_SUITE_P(Families, MoeRouterCases, testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MoeRouterErrors, ShapesAndDtypesAreNamed) {
  auto& ctx = test::context();
  Tensor logits = make_tensor(ctx, DType::f32, {7, 4}, "logits");
  Tensor ids = make_tensor(ctx, DType::i32, {7, 5}, "ids");
  Tensor weights = make_tensor(ctx, DType::f32, {7, 5}, "weights");
  vk::Recorder rec(ctx);
  auto message =
      test::error_message([&] { ops::moe_router_forward(rec, ids, weights, nullptr, logits, {}); });
  EXPECT_NE(message.find("k = 5 experts per token must be between 1 and the 4 experts"),
            std::string::npos)
      << message;
  Tensor ids2 = make_tensor(ctx, DType::f32, {7, 2}, "ids2");
  Tensor weights2 = make_tensor(ctx, DType::f32, {7, 2}, "weights2");
  message = test::error_message(
      [&] { ops::moe_router_forward(rec, ids2, weights2, nullptr, logits, {}); });
  EXPECT_NE(message.find("ids2 (f32, [7, 2]) must be i32"), std::string::npos) << message;
  Tensor ids3 = make_tensor(ctx, DType::i32, {7, 2}, "ids3");
  Tensor weights3 = make_tensor(ctx, DType::f32, {6, 2}, "weights3");
  message = test::error_message(
      [&] { ops::moe_router_forward(rec, ids3, weights3, nullptr, logits, {}); });
  EXPECT_NE(message.find("weights3"), std::string::npos) << message;
}

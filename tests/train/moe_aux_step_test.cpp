// The routers' load-balancing loss in a training step and an evaluation of a qwen3_moe model:
// the loss is cross-entropy + router_aux_loss_coef * aux_loss as Qwen3MoeForCausalLM reports it
// (checked against the CPU reference from the device's own router logits), its gradient gets
// the f16 loss scale like the cross-entropy's, and with gradient accumulation each micro-batch's
// term weighs 1 / K (the step's loss is the mean over its micro-batches).
#include <gtest/gtest.h>

#include <cmath>

#include "arch/tensor_names.hpp"
#include "model/layout.hpp"
#include "model/tiny_models.hpp"
#include "reference/moe.hpp"
#include "support/support.hpp"
#include "train/step.hpp"

namespace vktrain {
namespace {

constexpr double kCoefficient = 0.5;  // large enough that the term stands out of f16's noise

io::ModelConfig moe_config(bool aux) {
  io::ModelConfig c = test::tiny_config("qwen3_moe");
  c.moe.aux_loss = aux;
  c.moe.aux_loss_coef = kCoefficient;
  return c;
}

std::unique_ptr<model::Transformer> moe_model(bool aux, DType dtype) {
  model::ModelSetup setup;
  setup.full = true;
  setup.dtype = dtype;
  return test::random_model(moe_config(aux), setup, 11);
}

// Row r of the tiny batch as a batch of one row.
data::HostBatch row(const data::HostBatch& b, int64_t r) {
  auto slice = [&](const std::vector<int32_t>& v) {
    return std::vector<int32_t>(v.begin() + r * b.time, v.begin() + (r + 1) * b.time);
  };
  return {1, b.time, slice(b.ids), slice(b.targets), slice(b.positions), slice(b.documents)};
}

struct Outcome {
  double loss = 0;
  std::vector<float> router_grad;  // layer 0's, after the step
};

// One step (learning rate 0) on `micro` micro-batches of `micro[0].batch` rows.
Outcome train_once(bool aux, DType dtype, const std::vector<data::HostBatch>& micro) {
  auto m = moe_model(aux, dtype);
  train::TrainingStep step(*m, {micro[0].batch, micro[0].time, int64_t(micro.size()), false}, {});
  Outcome out;
  out.loss = step.run(micro, 0.0, 1, 0).loss;
  out.router_grad = read_floats(test::context(),
                                m->parameters().grad(model::layer_name(0, arch::hf::kRouter)));
  return out;
}

std::vector<double> difference(const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = double(a[i]) - double(b[i]);
  return d;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// |a - b| / |b|
double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return norm(d) / norm(b);
}

TEST(MoeAuxStep, LossIsCrossEntropyPlusTheRouterLossInTrainingAndEvaluation) {
  const io::ModelConfig config = moe_config(true);
  const data::HostBatch batch = test::tiny_batch(config, 3);
  const train::StepShape shape{batch.batch, batch.time, 1, false};
  auto with = moe_model(true, DType::f32), without = moe_model(false, DType::f32);
  train::TrainingStep step(*with, shape, {}), plain(*without, shape, {});

  const auto [sum, targets] = step.evaluator().loss(batch);
  const double cross_entropy = plain.evaluator().loss(batch).first / double(targets);
  // transformers' load_balancing_loss_func on the router logits and choices the device made.
  const ops::MoeScratch& scratch = step.activations().layer(0).moe;
  const size_t T = size_t(batch.batch * batch.time), E = size_t(config.moe.experts),
               k = size_t(config.moe.experts_per_token);
  const double aux = reference::moe_aux_loss(
      {read_floats(test::context(), scratch[ops::MoeScratchSlot::logits])},
      {read_ints(test::context(), scratch[ops::MoeScratchSlot::ids])}, T, E, k, kCoefficient);
  ASSERT_GT(aux, 0.1);
  EXPECT_NEAR(sum / double(targets), cross_entropy + aux, 1e-5);
  EXPECT_NEAR(step.run({batch}, 0.0, 1, 0).loss, cross_entropy + aux, 1e-5);
  EXPECT_NEAR(plain.run({batch}, 0.0, 1, 0).loss, cross_entropy, 1e-5);
}

// f16 scales the loss's gradients by 4096 and the f32 gradients back: the router loss's share
// of the router's gradient is the one f32 computes.
TEST(MoeAuxStep, F16GradientOfTheRouterLossGetsTheLossScale) {
  const data::HostBatch batch = test::tiny_batch(moe_config(true), 3);
  std::vector<double> share[2];
  for (int i = 0; i < 2; ++i) {
    const DType dtype = i == 0 ? DType::f32 : DType::f16;
    share[i] = difference(train_once(true, dtype, {batch}).router_grad,
                          train_once(false, dtype, {batch}).router_grad);
  }
  ASSERT_GT(norm(share[0]), 1e-3);
  EXPECT_LT(relative_error(share[1], share[0]), 0.02);
}

// Accumulating K micro-batches: the cross-entropy is the mean over all of the step's targets
// (one batch of K rows), and each micro-batch adds its own router loss weighted 1 / K, to the
// loss and to the gradient.
TEST(MoeAuxStep, AccumulationAveragesTheMicroBatchesRouterLosses) {
  const data::HostBatch batch = test::tiny_batch(moe_config(true), 3);
  const std::vector<data::HostBatch> rows = {row(batch, 0), row(batch, 1)};
  const Outcome plain_batch = train_once(false, DType::f32, {batch});
  const Outcome plain_rows = train_once(false, DType::f32, rows);
  EXPECT_NEAR(plain_rows.loss, plain_batch.loss, 1e-6);
  const std::vector<float> zero(plain_batch.router_grad.size(), 0.0f);
  EXPECT_LT(relative_error(difference(plain_rows.router_grad, zero),
                           difference(plain_batch.router_grad, zero)),
            1e-5);

  // The router loss's share of the loss and of the router's gradient, accumulated and per row.
  const Outcome accumulated = train_once(true, DType::f32, rows);
  const double loss_share = accumulated.loss - plain_rows.loss;
  const std::vector<double> grad_share =
      difference(accumulated.router_grad, plain_rows.router_grad);
  double want_loss = 0;
  std::vector<double> want_grad(grad_share.size(), 0.0);
  for (const data::HostBatch& r : rows) {
    const Outcome with = train_once(true, DType::f32, {r});
    const Outcome without = train_once(false, DType::f32, {r});
    want_loss += (with.loss - without.loss) / 2;
    const std::vector<double> d = difference(with.router_grad, without.router_grad);
    for (size_t i = 0; i < d.size(); ++i) want_grad[i] += d[i] / 2;
  }
  ASSERT_GT(norm(want_grad), 1e-3);
  EXPECT_NEAR(loss_share, want_loss, 1e-5);
  EXPECT_LT(relative_error(grad_share, want_grad), 1e-4);
}

}  // namespace
}  // namespace vktrain

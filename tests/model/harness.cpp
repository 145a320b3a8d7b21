#include "model/harness.hpp"

#include <gtest/gtest.h>

#include "model/activations.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
#include "reference/model.hpp"
#include "support/support.hpp"
#include "train/batch_upload.hpp"
#include "vk/recorder.hpp"

namespace vktrain::test {

GpuRun run_gradients(model::Transformer& m, const data::HostBatch& batch, bool recompute) {
  vk::Context& ctx = m.context();
  const io::ModelConfig& config = m.config();
  model::Activations acts(ctx, config, m.setup().dtype, batch.batch, batch.time, recompute,
                            m.setup().lora.rank);
  model::BatchTensors device = m.make_batch(batch.batch, batch.time);
  train::upload_batch(m, device, batch);
  Tensor logits = make_tensor(ctx, DType::f32, {batch.batch * batch.time, config.vocab_size},
                              "logits");
  vk::Recorder rec(ctx);
  ops::fill(rec, m.parameters().grad_arena(), 0.0f);
  ops::fill(rec, acts.loss, 0.0f);
  ops::cross_entropy_grad_scale(rec, acts.grad_scale, {&device.targets});
  m.record_forward(rec, acts, device, true);
  m.record_logits(rec, logits, acts);
  m.record_backward(rec, acts, device);
  rec.run();
  GpuRun run;
  run.logits = read_floats(ctx, logits);
  run.loss = double(read_floats(ctx, acts.loss)[0]) * read_floats(ctx, acts.grad_scale)[0];
  for (const auto& p : m.parameters().all())
    if (p.trainable) run.grads[p.spec.name] = read_floats(ctx, m.parameters().grad(p.spec.name));
  return run;
}

GpuRun expect_matches_reference(const io::ModelConfig& config, const model::ModelSetup& setup,
                                const std::map<std::string, std::vector<float>>& weights,
                                const data::HostBatch& batch, const std::string& label) {
  const reference::ModelBatch ref_batch{batch.batch, batch.time, batch.ids, batch.targets,
                                        batch.positions, batch.documents};
  const double scale = setup.lora.rank ? setup.lora.scale() : 1.0;
  const reference::ModelResult want = reference::model_reference(config, weights, ref_batch, scale);
  model::Transformer m(context(), config, setup);
  for (const auto& p : m.parameters().all()) m.parameters().write(p.spec.name, weights.at(p.spec.name));
  GpuRun got = run_gradients(m, batch, false);
  // f32 everywhere; the GPU sums in other orders than the double reference, and the errors of
  // the two layers compound: 1e-4 of the largest value of each tensor (the bound).
  EXPECT_LT(relative_error(got.logits, want.logits), 1e-4) << label << " logits";
  EXPECT_NEAR(got.loss, want.loss, 1e-5 * want.loss) << label << " loss";
  EXPECT_FALSE(got.grads.empty()) << label;
  for (const auto& [name, grad] : got.grads)
    EXPECT_LT(relative_error(grad, want.grads.at(name)), 1e-4) << label << " " << name;
  return got;
}

}  // namespace vktrain::test

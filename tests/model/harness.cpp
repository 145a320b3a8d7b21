#include "model/harness.hpp"

#include "model/activations.hpp"
#include "ops/cross_entropy.hpp"
#include "ops/elementwise.hpp"
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

}  // namespace vktrain::test

#include "train/batch_upload.hpp"

#include "base/error.hpp"
#include "ops/embedding.hpp"

namespace vktrain::train {

BatchInputs batch_inputs(const model::Transformer& model, model::BatchTensors& device,
                         const data::HostBatch& host) {
  const int64_t vocab = model.config().vocab_size;
  const size_t n = size_t(host.batch * host.time);
  if (host.batch != device.ids.shape[0] || host.time != device.ids.shape[1])
    fail("[batch] a batch of {}x{} tokens does not fit the recorded {}x{}", host.batch, host.time,
         device.ids.shape[0], device.ids.shape[1]);
  if (host.ids.size() != n || host.targets.size() != n || host.positions.size() != n ||
      (!host.documents.empty() && host.documents.size() != n))
    fail("[batch] batch arrays must each hold {} values", n);
  for (size_t i = 0; i < n; ++i) {
    if (host.ids[i] < 0 || host.ids[i] >= vocab)
      fail("[batch] token id {} is outside the vocabulary of {}", host.ids[i], vocab);
    if (host.targets[i] >= vocab)
      fail("[batch] target {} is outside the vocabulary of {}", host.targets[i], vocab);
  }
  BatchInputs inputs;
  inputs.emplace_back(&device.ids, host.ids);
  inputs.emplace_back(&device.targets, host.targets);
  inputs.emplace_back(&device.positions, host.positions);
  inputs.emplace_back(&device.documents,
                      host.documents.empty() ? std::vector<int32_t>(n, 0) : host.documents);
  if (!device.order.memory.empty())
    inputs.emplace_back(&device.order, ops::embedding_token_order(host.ids, uint64_t(vocab)));
  if (!device.token_mask.memory.empty()) {
    std::vector<int32_t> mask(n, 1);
    for (size_t i = 0; i < host.documents.size(); ++i) mask[i] = host.documents[i] >= 0;
    inputs.emplace_back(&device.token_mask, std::move(mask));
  }
  return inputs;
}

void upload_batch(const model::Transformer& model, model::BatchTensors& device,
                  const data::HostBatch& host) {
  for (auto& [tensor, values] : batch_inputs(model, device, host))
    write_ints(model.context(), *tensor, values);
}

}  // namespace vktrain::train

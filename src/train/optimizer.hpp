#pragma once
// The optimizer behind a training step (DESIGN.md decision 14), out of the model: the state it
// keeps beside the parameters' master and gradient arenas, the names that state has in a
// checkpoint's optimizer.safetensors, the device bytes the memory plan counts for it, and the
// update the recorded step replays. AdamW is the first implementation; a second optimizer, or
// one whose state is sharded across MPI ranks, is one more class behind this interface and one
// more case in make_optimizer and optimizer_state_bytes.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/parameters.hpp"
#include "ops/adamw.hpp"

namespace vktrain::train {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // The values the host writes into step_values() before every replay of the step (DESIGN.md
  // decision 3), for learning rate `lr` and `step` counting from 1.
  virtual std::vector<float> host_step_values(double lr, int64_t step) const = 0;
  virtual const Tensor& step_values() const = 0;
  // Records the update of every trainable master from the gradient arena. grad_norm_squared
  // (f32 [1]) holds the squared global gradient norm, for clipping.
  virtual void record_update(vk::Recorder& rec, const Tensor& grad_norm_squared) = 0;
  // The state of one trainable parameter, each tensor under its name in optimizer.safetensors.
  virtual std::vector<std::pair<std::string, Tensor>> state_of(
      const model::Parameter& parameter) const = 0;
};

// The run's optimizer over `params` (which must have trainable parameters); its state starts at
// zero, as a checkpoint's is restored into it.
std::unique_ptr<Optimizer> make_optimizer(model::Parameters& params,
                                          const ops::AdamwOptions& options);

// The device bytes make_optimizer's state takes for trainable arenas of `arena_bytes`
// (model::MemoryPlan::master), for the memory plan.
uint64_t optimizer_state_bytes(const ops::AdamwOptions& options, uint64_t arena_bytes);

}  // namespace vktrain::train

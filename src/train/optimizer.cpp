#include "train/optimizer.hpp"

#include "base/error.hpp"
#include "ops/elementwise.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

namespace {

// AdamW (torch.optim.AdamW with clip_grad_norm_): two f32 moments in arenas of the parameters'
// layout, so the update is one flat pass over groups of neighbouring parameters.
class Adamw final : public Optimizer {
 public:
  Adamw(model::Parameters& params, const ops::AdamwOptions& options)
      : params_(params), options_(options) {
    if (!params.any_trainable()) fail("[train] the model has nothing to train");
    m_ = params.make_arena("AdamW first moments", memory_);
    v_ = params.make_arena("AdamW second moments", memory_);
    step_values_ = make_tensor(params.context(), DType::f32, {3}, "AdamW step values");
    // Neighbouring parameters with the same decay share one group; the padding between them is
    // zero in every arena and stays zero under the update.
    for (const auto& p : params.all()) {
      if (!p.trainable) continue;
      const uint64_t end =
          p.offset + (p.spec.elements() + model::kArenaRow - 1) / model::kArenaRow *
                         model::kArenaRow;
      if (!groups_.empty() && groups_.back().decay == p.spec.matrix() &&
          groups_.back().first + groups_.back().count == p.offset)
        groups_.back().count = end - groups_.back().first;
      else
        groups_.push_back({p.offset, end - p.offset, p.spec.matrix()});
    }
  }

  std::vector<float> host_step_values(double lr, int64_t step) const override {
    auto values = ops::adamw_step_values(lr, step, options_);
    return {values.begin(), values.end()};
  }
  const Tensor& step_values() const override { return step_values_; }

  void record_update(vk::Recorder& rec, const Tensor& grad_norm_squared) override {
    ops::adamw_update(rec, params_.master_arena(), m_, v_, params_.grad_arena(), step_values_,
                      options_.max_grad_norm > 0 ? &grad_norm_squared : nullptr, groups_,
                      options_);
  }

  std::vector<std::pair<std::string, Tensor>> state_of(
      const model::Parameter& p) const override {
    const std::string& name = p.spec.name;
    std::vector<std::pair<std::string, Tensor>> state;
    state.emplace_back("exp_avg." + name, params_.arena_view(m_, name));
    state.emplace_back("exp_avg_sq." + name, params_.arena_view(v_, name));
    return state;
  }

 private:
  model::Parameters& params_;
  ops::AdamwOptions options_;
  std::vector<Tensor> memory_;  // the moments' chunks
  Tensor m_, v_;
  Tensor step_values_;  // f32 [3]: ops::adamw_step_values
  std::vector<ops::AdamwGroup> groups_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(model::Parameters& params,
                                          const ops::AdamwOptions& options) {
  return std::make_unique<Adamw>(params, options);
}

uint64_t optimizer_state_bytes(const ops::AdamwOptions&, uint64_t arena_bytes) {
  return 2 * arena_bytes;  // the two moments
}

}  // namespace vktrain::train

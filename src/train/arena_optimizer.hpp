#pragma once
// What the optimizers over the parameters' arenas share (train/optimizer.hpp): this rank's shard
// of the arenas (whole rows), the decay groups within it, the step values, and reading a
// parameter's state or master from the ranks' parts. Internal to train/.
#include <functional>
#include <span>
#include <vector>

#include "train/optimizer.hpp"

namespace vktrain::train {

// [first, end) of a parameter in the arenas, its padding to a whole row included.
ArenaRange arena_range(const model::Parameter& p);

class ArenaOptimizer : public Optimizer {
 public:
  ArenaOptimizer(model::Parameters& params, const ops::AdamwOptions& options,
                 const Communicator* ranks);

  std::vector<float> host_step_values(double lr, int64_t step) const override;
  const Tensor& step_values() const override { return step_values_; }
  ArenaRange updated() const override { return shard_; }
  bool sharded() const override { return ranks_ && ranks_->distributed(); }
  std::vector<float> read_master(const model::Parameter& p) const override;
  void record_update(vk::Recorder& rec, const Tensor& grad_norm_squared) final;

 protected:
  // Records the update of the shard's masters from its gradients (`grad_norm_squared`: null
  // unless clipping).
  virtual void record_shard_update(vk::Recorder& rec, Tensor& master, const Tensor& grads,
                                   const Tensor* grad_norm_squared) = 0;
  // The rows of arena elements `range` (whole rows within `shard`) in a state tensor over the
  // shard's rows that holds `per_row` values an arena row.
  static Tensor state_rows(const Tensor& state, const ArenaRange& shard, const ArenaRange& range,
                           int64_t per_row);
  Tensor shard_rows(const Tensor& state, const ArenaRange& range, int64_t per_row) const {
    return state_rows(state, shard_, range, per_row);
  }
  // The shard's rows of a whole arena (the gradients).
  Tensor shard_of(const Tensor& arena) const {
    return state_rows(arena, {0, 0}, shard_, model::kArenaRow);
  }
  // The first `values` values of p's state on rank 0 (the others get nothing): `read_part`
  // returns those of this rank's part of p's rows (arena elements, whole rows), one value every
  // `per_value` elements. Sharded, every rank calls it alike and sends its part to rank 0.
  std::vector<float> collect(const model::Parameter& p, uint64_t per_value, uint64_t values,
                             const std::function<std::vector<float>(const ArenaRange&)>& read_part)
      const;
  // This rank's part of p's rows (count 0: none), and p's `values` in it, padded with `padding`
  // to one value every `per_value` elements of the part.
  ArenaRange part_of(const model::Parameter& p) const;
  static std::vector<float> part_values(const model::Parameter& p, const ArenaRange& part,
                                        uint64_t per_value, std::span<const float> values,
                                        float padding);

  model::Parameters& params_;
  ops::AdamwOptions options_;
  const Communicator* ranks_;
  ArenaRange shard_;
  Tensor step_values_;  // f32 [3]: ops::adamw_step_values
  std::vector<ops::AdamwGroup> groups_;  // relative to the shard
};

}  // namespace vktrain::train

#include "train/arena_optimizer.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "vk/context.hpp"

namespace vktrain::train {

ArenaRange arena_range(const model::Parameter& p) {
  const uint64_t rows = (p.spec.elements() + model::kArenaRow - 1) / model::kArenaRow;
  return {p.offset, rows * model::kArenaRow};
}

ArenaOptimizer::ArenaOptimizer(model::Parameters& params, const ops::AdamwOptions& options,
                               const Communicator* ranks)
    : params_(params), options_(options), ranks_(ranks) {
  if (!params.any_trainable()) fail("[train] the model has nothing to train");
  const uint64_t elements = params.trainable_elements();
  shard_ = sharded() ? optimizer_shard(elements, ranks->rank(), ranks->size())
                     : ArenaRange{0, elements};
  if (params.masters_sharded() && (!sharded() || params.master_shard().first != shard_.first ||
                                   params.master_shard().count != shard_.count))
    fail("[train] the masters are sharded, but not as the optimizer's state is");
  step_values_ = make_tensor(params.context(), DType::f32, {3}, "optimizer step values");
  // Neighbouring parameters with the same decay share one group; the padding between them is
  // zero in every arena and stays zero under the update. Groups are relative to the shard.
  for (const auto& p : params.all()) {
    if (!p.trainable) continue;
    const ArenaRange r = model::arena_overlap(arena_range(p), shard_);
    if (r.count == 0) continue;
    const uint64_t first = r.first - shard_.first;
    if (!groups_.empty() && groups_.back().decay == p.spec.matrix() &&
        groups_.back().first + groups_.back().count == first)
      groups_.back().count += r.count;
    else
      groups_.push_back({first, r.count, p.spec.matrix()});
  }
}

std::vector<float> ArenaOptimizer::host_step_values(double lr, int64_t step) const {
  auto values = ops::adamw_step_values(lr, step, options_);
  return {values.begin(), values.end()};
}

std::vector<float> ArenaOptimizer::read_master(const model::Parameter& p) const {
  if (!params_.masters_sharded())
    return !ranks_ || ranks_->rank() == 0 ? params_.read(p.spec.name) : std::vector<float>{};
  return collect(p, 1, p.spec.elements(), [&](const ArenaRange& part) {
    return read_floats(params_.context(), params_.master_rows(part));
  });
}

void ArenaOptimizer::record_update(vk::Recorder& rec, const Tensor& grad_norm_squared) {
  if (shard_.count == 0) return;
  Tensor master = params_.master_rows(shard_);
  record_shard_update(rec, master, shard_of(params_.grad_arena()),
                      options_.max_grad_norm > 0 ? &grad_norm_squared : nullptr);
}

Tensor ArenaOptimizer::state_rows(const Tensor& state, const ArenaRange& shard,
                                  const ArenaRange& range, int64_t per_row) {
  const uint64_t per_element = uint64_t(model::kArenaRow / per_row);
  return view(state, (range.first - shard.first) / per_element,
              {int64_t(range.count / model::kArenaRow), per_row}, state.name);
}

std::vector<float> ArenaOptimizer::collect(
    const model::Parameter& p, uint64_t per_value, uint64_t values,
    const std::function<std::vector<float>(const ArenaRange&)>& read_part) const {
  const ArenaRange whole = arena_range(p);
  if (!sharded()) {
    std::vector<float> all = read_part(whole);
    all.resize(values);
    return all;
  }
  std::vector<float> all(ranks_->rank() == 0 ? whole.count / per_value : 0);
  for (int r = 0; r < ranks_->size(); ++r) {
    const ArenaRange part = model::arena_overlap(
        whole, optimizer_shard(params_.trainable_elements(), r, ranks_->size()));
    if (part.count == 0) continue;
    std::span<float> into;
    if (ranks_->rank() == 0)
      into = {all.data() + (part.first - whole.first) / per_value, part.count / per_value};
    if (r == ranks_->rank()) {
      const std::vector<float> mine = read_part(part);
      if (r == 0) std::copy(mine.begin(), mine.end(), into.begin());
      else ranks_->send(mine, 0);
    } else if (ranks_->rank() == 0) {
      ranks_->receive(into, r);
    }
  }
  all.resize(ranks_->rank() == 0 ? values : 0);
  return all;
}

ArenaRange ArenaOptimizer::part_of(const model::Parameter& p) const {
  return model::arena_overlap(arena_range(p), shard_);
}

std::vector<float> ArenaOptimizer::part_values(const model::Parameter& p, const ArenaRange& part,
                                               uint64_t per_value, std::span<const float> values,
                                               float padding) {
  std::vector<float> out(part.count / per_value, padding);
  const uint64_t from = (part.first - arena_range(p).first) / per_value;
  if (from < values.size())
    std::copy_n(values.begin() + int64_t(from), std::min<uint64_t>(out.size(), values.size() - from),
                out.begin());
  return out;
}

}  // namespace vktrain::train

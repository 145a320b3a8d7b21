#include "train/optimizer.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

#include "base/error.hpp"
#include "ops/elementwise.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vktrain::train {

namespace {

uint64_t whole_rows(uint64_t elements) {
  return (elements + model::kArenaRow - 1) / model::kArenaRow * model::kArenaRow;
}

// [first, end) of a parameter in the arenas, its padding to a whole row included.
ArenaRange arena_range(const model::Parameter& p) {
  return {p.offset, whole_rows(p.spec.elements())};
}


// AdamW (torch.optim.AdamW with clip_grad_norm_): two f32 moments in the parameters' arena
// layout, so the update is one flat pass over groups of neighbouring parameters. Sharded, the
// moments cover only this rank's rows of the arenas (shard_), and so do the groups.
class Adamw final : public Optimizer {
 public:
  Adamw(model::Parameters& params, const ops::AdamwOptions& options, const Communicator* ranks)
      : params_(params), options_(options), ranks_(ranks) {
    if (!params.any_trainable()) fail("[train] the model has nothing to train");
    const uint64_t elements = params.trainable_elements();
    shard_ = sharded() ? optimizer_shard(elements, ranks->rank(), ranks->size())
                       : ArenaRange{0, elements};
    if (!sharded()) {
      m_ = params.make_arena("AdamW first moments", memory_);
      v_ = params.make_arena("AdamW second moments", memory_);
    } else if (shard_.count > 0) {
      const uint64_t rows = shard_.count / model::kArenaRow;
      m_ = model::zeroed_rows(params.context(), rows, "AdamW first moments (shard)");
      v_ = model::zeroed_rows(params.context(), rows, "AdamW second moments (shard)");
    }
    if (params.masters_sharded() && (!sharded() || params.master_shard().first != shard_.first ||
                                     params.master_shard().count != shard_.count))
      fail("[train] the masters are sharded, but not as the optimizer's state is");
    step_values_ = make_tensor(params.context(), DType::f32, {3}, "AdamW step values");
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

  std::vector<float> host_step_values(double lr, int64_t step) const override {
    auto values = ops::adamw_step_values(lr, step, options_);
    return {values.begin(), values.end()};
  }
  const Tensor& step_values() const override { return step_values_; }

  void record_update(vk::Recorder& rec, const Tensor& grad_norm_squared) override {
    if (shard_.count == 0) return;
    Tensor master = params_.master_rows(shard_);
    Tensor grads = shard_view(params_.grad_arena());
    ops::adamw_update(rec, master, m_, v_, grads, step_values_,
                      options_.max_grad_norm > 0 ? &grad_norm_squared : nullptr, groups_,
                      options_);
  }

  ArenaRange updated() const override { return shard_; }
  bool sharded() const override { return ranks_ && ranks_->distributed(); }

  std::vector<std::string> state_names(const model::Parameter& p) const override {
    return {"exp_avg." + p.spec.name, "exp_avg_sq." + p.spec.name};
  }

  std::vector<float> read_state(const model::Parameter& p, size_t which) const override {
    const Tensor& moment = which == 0 ? m_ : v_;
    if (!sharded()) return read_floats(params_.context(), params_.arena_view(moment, p.spec.name));
    return gather(p, [&](const ArenaRange& part) { return rows_view(moment, part); });
  }

  std::vector<float> read_master(const model::Parameter& p) const override {
    if (!params_.masters_sharded())
      return !ranks_ || ranks_->rank() == 0 ? params_.read(p.spec.name) : std::vector<float>{};
    return gather(p, [&](const ArenaRange& part) { return params_.master_rows(part); });
  }

  void write_state(const model::Parameter& p, size_t which,
                   std::span<const float> values) override {
    Tensor& moment = which == 0 ? m_ : v_;
    if (values.size() != p.spec.elements())
      fail("[adamw] {}: {} state values for a parameter of {}", p.spec.name, values.size(),
           p.spec.elements());
    if (!sharded()) {
      Tensor view = params_.arena_view(moment, p.spec.name);
      write_floats(params_.context(), view, values);
      return;
    }
    const ArenaRange whole = arena_range(p);
    const ArenaRange part = model::arena_overlap(whole, shard_);
    if (part.count == 0) return;
    // Whole rows: the padding after the parameter's last value is zero, as in the arenas.
    std::vector<float> rows(part.count, 0.0f);
    const uint64_t from = part.first - whole.first;
    const uint64_t n = std::min<uint64_t>(part.count, values.size() - from);
    std::copy_n(values.begin() + int64_t(from), n, rows.begin());
    Tensor view = rows_view(moment, part);
    write_floats(params_.context(), view, rows);
  }

 private:
  // The shard's rows of a whole arena.
  Tensor shard_view(const Tensor& arena) const {
    return view(arena, shard_.first, {int64_t(shard_.count / model::kArenaRow), model::kArenaRow},
                arena.name + " (shard)");
  }
  // Parameter p's values on rank 0 from each rank's part of its rows (`rows` views this rank's
  // part), sent to rank 0 in rank order; the others get nothing.
  std::vector<float> gather(const model::Parameter& p,
                            const std::function<Tensor(const ArenaRange&)>& rows) const {
    const ArenaRange whole = arena_range(p);
    std::vector<float> values(ranks_->rank() == 0 ? whole.count : 0);
    for (int r = 0; r < ranks_->size(); ++r) {
      const ArenaRange part = model::arena_overlap(
          whole, optimizer_shard(params_.trainable_elements(), r, ranks_->size()));
      if (part.count == 0) continue;
      std::span<float> into;
      if (ranks_->rank() == 0) into = {values.data() + (part.first - whole.first), part.count};
      if (r == ranks_->rank()) {
        const std::vector<float> mine = read_floats(params_.context(), rows(part));
        if (r == 0) std::copy(mine.begin(), mine.end(), into.begin());
        else ranks_->send(mine, 0);
      } else if (ranks_->rank() == 0) {
        ranks_->receive(into, r);
      }
    }
    values.resize(ranks_->rank() == 0 ? p.spec.elements() : 0);
    return values;
  }
  // Arena rows `range` (whole rows within the shard) of a moment.
  Tensor rows_view(const Tensor& moment, const ArenaRange& range) const {
    return view(moment, range.first - shard_.first,
                {int64_t(range.count / model::kArenaRow), model::kArenaRow}, moment.name);
  }

  model::Parameters& params_;
  ops::AdamwOptions options_;
  const Communicator* ranks_;
  ArenaRange shard_;
  std::vector<Tensor> memory_;  // the unsharded moments' chunks
  Tensor m_, v_;
  Tensor step_values_;  // f32 [3]: ops::adamw_step_values
  std::vector<ops::AdamwGroup> groups_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(model::Parameters& params,
                                          const ops::AdamwOptions& options,
                                          const Communicator* shard_over) {
  return std::make_unique<Adamw>(params, options, shard_over);
}

uint64_t optimizer_state_bytes(const ops::AdamwOptions&, uint64_t arena_bytes, int64_t shards) {
  // The two moments, of rank 0's shard.
  return 2 * optimizer_shard(arena_bytes / sizeof(float), 0, shards).count * sizeof(float);
}

}  // namespace vktrain::train

#include "train/optimizer.hpp"

#include "base/error.hpp"
#include "ops/adamw_8bit.hpp"
#include "train/adamw_8bit_optimizer.hpp"
#include "train/arena_optimizer.hpp"
#include "vk/context.hpp"
#include "vk/memory.hpp"

namespace vktrain::train {

namespace {

// AdamW (torch.optim.AdamW with clip_grad_norm_): two f32 moments in the parameters' arena
// layout, so the update is one flat pass over groups of neighbouring parameters. Sharded, the
// moments cover only this rank's rows of the arenas (shard_), and so do the groups.
class Adamw final : public ArenaOptimizer {
 public:
  Adamw(model::Parameters& params, const ops::AdamwOptions& options, const Communicator* ranks)
      : ArenaOptimizer(params, options, ranks) {
    if (!sharded()) {
      m_ = params.make_arena("AdamW first moments", memory_);
      v_ = params.make_arena("AdamW second moments", memory_);
    } else if (shard_.count > 0) {
      const uint64_t rows = shard_.count / model::kArenaRow;
      m_ = model::zeroed_rows(params.context(), rows, "AdamW first moments (shard)");
      v_ = model::zeroed_rows(params.context(), rows, "AdamW second moments (shard)");
    }
  }

  OptimizerKind kind() const override { return OptimizerKind::adamw; }

  void record_shard_update(vk::Recorder& rec, Tensor& master, const Tensor& grads,
                           const Tensor* grad_norm_squared) override {
    ops::adamw_update(rec, master, m_, v_, grads, step_values_, grad_norm_squared, groups_,
                      options_);
  }

  std::vector<StateTensor> state_tensors(const model::Parameter& p) const override {
    return {{"exp_avg." + p.spec.name, p.spec.shape}, {"exp_avg_sq." + p.spec.name, p.spec.shape}};
  }

  std::vector<float> read_state(const model::Parameter& p, size_t which) const override {
    const Tensor& moment = which == 0 ? m_ : v_;
    return collect(p, 1, p.spec.elements(), [&](const ArenaRange& part) {
      return read_floats(params_.context(), shard_rows(moment, part, model::kArenaRow));
    });
  }

  void write_state(const model::Parameter& p, size_t which,
                   std::span<const float> values) override {
    if (values.size() != p.spec.elements())
      fail("[adamw] {}: {} state values for a parameter of {}", p.spec.name, values.size(),
           p.spec.elements());
    const ArenaRange part = part_of(p);
    if (part.count == 0) return;
    // Whole rows: the padding after the parameter's last value is zero, as in the arenas.
    Tensor rows = shard_rows(which == 0 ? m_ : v_, part, model::kArenaRow);
    write_floats(params_.context(), rows, part_values(p, part, 1, values, 0.0f));
  }

 private:
  std::vector<Tensor> memory_;  // the unsharded moments' chunks
  Tensor m_, v_;
};

}  // namespace

OptimizerKind parse_optimizer(std::string_view name, std::string_view flag) {
  if (name == "adamw") return OptimizerKind::adamw;
  if (name == "adamw_8bit") return OptimizerKind::adamw_8bit;
  fail("{} {}: unknown optimizer; use adamw or adamw_8bit", flag, name);
}

const char* optimizer_name(OptimizerKind kind) {
  return kind == OptimizerKind::adamw ? "adamw" : "adamw_8bit";
}

std::unique_ptr<Optimizer> make_optimizer(model::Parameters& params,
                                          const ops::AdamwOptions& options,
                                          const Communicator* shard_over, OptimizerKind kind) {
  if (kind == OptimizerKind::adamw_8bit) return make_adamw_8bit(params, options, shard_over);
  return std::make_unique<Adamw>(params, options, shard_over);
}

uint64_t optimizer_state_bytes(OptimizerKind kind, uint64_t arena_bytes, int64_t shards) {
  // The two moments, of rank 0's shard.
  const uint64_t values = optimizer_shard(arena_bytes / sizeof(float), 0, shards).count;
  if (kind == OptimizerKind::adamw) return 2 * values * sizeof(float);
  // A code a value and an f32 absmax a block, per moment, and the maps, each its own allocation.
  if (values == 0) return vk::allocated_bytes(4 * 256 * sizeof(float));
  return 2 * (vk::allocated_bytes(values) +
              vk::allocated_bytes(values / ops::kAdamw8bitBlock * sizeof(float))) +
         vk::allocated_bytes(4 * 256 * sizeof(float));
}

}  // namespace vktrain::train

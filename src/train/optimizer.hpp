#pragma once
// The optimizer behind a training step (DESIGN.md decision 14), out of the model: the state it
// keeps beside the parameters' master and gradient arenas, the names that state has in a
// checkpoint's optimizer.safetensors, the device bytes the memory plan counts for it, the
// update the recorded step replays, and its sharding across MPI ranks. AdamW is the first
// implementation; a second optimizer is one more class behind this interface and one more case
// in make_optimizer and optimizer_state_bytes. AdamW 8-bit (bitsandbytes' blockwise Adam8bit,
// ops/adamw_8bit.hpp) is the second: its moments are a byte a value plus an absmax a block of
// 256, which shards on whole arena rows like AdamW's.
//
// Sharded over N data-parallel ranks (ZeRO stage 1): rank r keeps the state of, and updates,
// only its 1/N of the arenas (whole rows, ranks in order: optimizer_shard), so the optimizer's
// memory per device falls with N; the step gathers the other ranks' updated masters after the
// update (train/step.hpp). In f16/bf16 runs the masters are sharded the same way (the model's
// Parameters keep only this rank's rows). A checkpoint holds the whole state and masters under
// the parameters' names all the same: rank 0 gathers them to write them (read_state,
// read_master), and every rank takes its part when reading them back (write_state,
// Parameters::write).
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/parameters.hpp"
#include "ops/adamw.hpp"
#include "train/communicator.hpp"

namespace vktrain::train {

using model::ArenaRange;

enum class OptimizerKind { adamw, adamw_8bit };
// "adamw" or "adamw_8bit" (--optimizer); anything else fails naming `flag` and the choices.
OptimizerKind parse_optimizer(std::string_view name, std::string_view flag);
const char* optimizer_name(OptimizerKind kind);

// A state tensor of one trainable parameter in optimizer.safetensors: F32, or U8 codes (values
// 0..255 on the host).
struct StateTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool codes = false;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual OptimizerKind kind() const = 0;
  // The values the host writes into step_values() before every replay of the step (DESIGN.md
  // decision 3), for learning rate `lr` and `step` counting from 1.
  virtual std::vector<float> host_step_values(double lr, int64_t step) const = 0;
  virtual const Tensor& step_values() const = 0;
  // Records the update of the trainable masters in updated() from the gradient arena.
  // grad_norm_squared (f32 [1]) holds the squared global gradient norm, for clipping.
  virtual void record_update(vk::Recorder& rec, const Tensor& grad_norm_squared) = 0;
  // The part of the arenas this rank updates: all of them unless sharded.
  virtual ArenaRange updated() const = 0;
  virtual bool sharded() const = 0;
  // A trainable parameter's state tensors in optimizer.safetensors.
  virtual std::vector<StateTensor> state_tensors(const model::Parameter& parameter) const = 0;
  // State tensor `which` of `parameter` (codes as their values 0..255). Sharded, every rank calls it for the same tensors in
  // the same order: rank 0 gets the values, the others send their parts and get nothing.
  virtual std::vector<float> read_state(const model::Parameter& parameter, size_t which) const = 0;
  // The f32 master of a trainable `parameter` on rank 0 (the other ranks get nothing); with the
  // masters sharded (Parameters), gathered as read_state gathers, every rank calling it alike.
  virtual std::vector<float> read_master(const model::Parameter& parameter) const = 0;
  // Restores state tensor `which` of `parameter` from its values (sharded: this rank's part).
  virtual void write_state(const model::Parameter& parameter, size_t which,
                           std::span<const float> values) = 0;
};

// The run's optimizer of `kind` over `params` (which must have trainable parameters); its state
// starts at zero, as a checkpoint's is restored into it. `shard_over`: the data-parallel job whose ranks
// share the state (ZeRO-1); null or one rank: unsharded. Masters sharded in `params` need the
// optimizer sharded the same way.
std::unique_ptr<Optimizer> make_optimizer(model::Parameters& params,
                                          const ops::AdamwOptions& options,
                                          const Communicator* shard_over = nullptr,
                                          OptimizerKind kind = OptimizerKind::adamw);

// Rank `rank`'s part of arenas of `elements` shared by `ranks` ranks (model::arena_shard: the
// masters' shard, when they are sharded, is the same).
inline ArenaRange optimizer_shard(uint64_t elements, int64_t rank, int64_t ranks) {
  return model::arena_shard(elements, rank, ranks);
}

// The device bytes make_optimizer's state takes for trainable arenas of `arena_bytes`
// (model::MemoryPlan::master), sharded over `shards` ranks (on rank 0, which holds the most),
// for the memory plan.
uint64_t optimizer_state_bytes(OptimizerKind kind, uint64_t arena_bytes, int64_t shards = 1);

}  // namespace vktrain::train

#pragma once
// Every parameter of a model in one table (DESIGN.md decision 7, STYLE.md "one allocation, many
// views"): name, shape, dtype, whether it trains, and where it lives.
//  - The tensor the forward pass reads (`weight`): matrices in the run's dtype (f32, f16 or
//    bf16) or, frozen ones, in a ggml block type where the caller asks (a quantized base,
//    QLoRA: `block_types`); norm weights and biases in f32 (the ops want them so).
//  - Trainable parameters also live in f32 arenas with one layout: the master copy and the
//    gradients here, and the optimizer's state (train/optimizer.hpp, through make_arena), so
//    the optimizer is one flat pass. An f32 weight that trains is a view of its master; any
//    other trainable weight is a compute copy refreshed from the master after every update.
//  - Masters sharded (ZeRO-1 over MPI ranks in f16/bf16, train/optimizer.hpp): this process
//    keeps only its shard's rows of the master arena (master_shard), every trainable weight is a
//    compute copy (f32 norms too), and the step refreshes the copies from the masters that it
//    gathers from every rank (record_refresh_from); the gradients stay whole.
// Arenas are [rows, 1024] f32 (whole rows, so spans can split them); each parameter starts on a
// row. They are built from chunks that each fit one allocation and end on a parameter boundary,
// so a parameter never straddles two allocations unless it alone exceeds one.
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/quant.hpp"
#include "model/layout.hpp"
#include "ops/tensor.hpp"

namespace vktrain::vk {
class Recorder;
}

namespace vktrain::model {

inline constexpr int64_t kArenaRow = 1024;  // elements per arena row

// Elements [first, first + count) of the arenas.
struct ArenaRange {
  uint64_t first = 0, count = 0;
};

// Rank `rank`'s part of arenas of `elements` (a whole number of rows) shared by `ranks` ranks:
// ceil(rows / ranks) rows each, in rank order (the last ones may hold fewer, or none).
ArenaRange arena_shard(uint64_t elements, int64_t rank, int64_t ranks);

// The elements two ranges share (count 0 when they do not meet).
ArenaRange arena_overlap(const ArenaRange& a, const ArenaRange& b);

// A zeroed f32 [rows, kArenaRow] tensor (an arena's shard: its padding must stay zero).
Tensor zeroed_rows(vk::Context& context, uint64_t rows, const std::string& what);

struct Parameter {
  ParameterSpec spec;
  bool trainable = false;
  bool copy = false;    // `weight` is a compute copy of the master (refreshed after updates)
  uint64_t offset = 0;  // trainable: first element in the arenas (a multiple of kArenaRow)
  Tensor weight;        // what the forward pass reads
};

class Parameters {
 public:
  using TrainablePredicate = std::function<bool(const ParameterSpec&)>;
  // block_types: frozen matrices stored in a block type (name -> q8_0 ... q6_k); a parameter
  // that trains cannot be one (the error names it). shards > 1 in an f16/bf16 run: keep only
  // the masters of arena_shard(.., shard, shards).
  Parameters(vk::Context& context, const std::vector<ParameterSpec>& specs, DType dtype,
             const TrainablePredicate& trainable,
             const std::map<std::string, DType>& block_types = {}, int64_t shard = 0,
             int64_t shards = 1);
  Parameters(const Parameters&) = delete;
  Parameters& operator=(const Parameters&) = delete;

  vk::Context& context() const { return context_; }
  DType dtype() const { return dtype_; }
  const std::vector<Parameter>& all() const { return params_; }
  const Parameter* find(const std::string& name) const;
  const Parameter& at(const std::string& name) const;  // fails naming the parameter

  // Host values into a parameter: the master (exact) and the weight (rounded to its dtype;
  // a block-typed weight is quantized as llama.cpp's reference quantizer does).
  void write(const std::string& name, std::span<const float> values);
  // A frozen weight's encoded values as a file holds them (`type`: F32, F16, BF16 or a block
  // type), row after row: copied as they are where `type` is the weight's own block type, else
  // decoded and written as values.
  void write_encoded(const std::string& name, std::span<const std::byte> bytes, io::GgmlType type);
  // The parameter's value: the master when it trains, else the weight (a block-typed one
  // decoded). Not for a trainable one when the masters are sharded (the ranks gather those).
  std::vector<float> read(const std::string& name) const;

  bool any_trainable() const { return trainable_elements_ != 0; }
  uint64_t trainable_elements() const { return trainable_elements_; }  // arena size, padding incl.
  uint64_t trainable_count() const;  // parameters that train, no padding
  uint64_t total_count() const;      // all parameters
  // Views of one trainable parameter in an arena (master: not when sharded).
  Tensor master(const std::string& name) const;
  Tensor grad(const std::string& name) const { return arena_view(grads_, name); }
  // Whole arenas ([rows, kArenaRow] f32; empty without trainable parameters); the master arena
  // is the shard's rows alone when sharded.
  Tensor& master_arena() { return master_; }
  Tensor& grad_arena() { return grads_; }
  bool masters_sharded() const { return masters_sharded_; }
  ArenaRange master_shard() const { return master_shard_; }  // the whole arena unless sharded
  // The master rows `range` (whole rows within master_shard()).
  Tensor master_rows(const ArenaRange& range) const;
  // A new zeroed arena of the same layout (the optimizer's state), whose memory is the tensors
  // appended to `owners`, which the caller keeps as long as the arena; and the view of one
  // trainable parameter in an arena of that layout.
  Tensor make_arena(const char* what, std::vector<Tensor>& owners) const;
  Tensor arena_view(const Tensor& arena, const std::string& name) const;
  // Records the refresh of every compute copy from its master (after an optimizer update);
  // not when the masters are sharded.
  void record_refresh(vk::Recorder& rec);
  // Records the refresh of the compute copies' part in arena elements `range` from `values`
  // (f32 [range.count], those elements of the whole master arena: gathered from the ranks).
  void record_refresh_from(vk::Recorder& rec, const Tensor& values, const ArenaRange& range);

 private:
  Parameter& mutable_at(const std::string& name);

  vk::Context& context_;
  DType dtype_;
  std::vector<Parameter> params_;
  uint64_t trainable_elements_ = 0;
  std::vector<uint64_t> chunk_rows_;  // arena chunk sizes, ending on parameter boundaries
  std::vector<Tensor> chunks_;        // owners of the master's and the gradients' memory
  bool masters_sharded_ = false;
  ArenaRange master_shard_;
  Tensor master_, grads_;
};

}  // namespace vktrain::model

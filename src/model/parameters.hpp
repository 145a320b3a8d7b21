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
  // that trains cannot be one (the error names it).
  Parameters(vk::Context& context, const std::vector<ParameterSpec>& specs, DType dtype,
             const TrainablePredicate& trainable,
             const std::map<std::string, DType>& block_types = {});
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
  // decoded).
  std::vector<float> read(const std::string& name) const;

  bool any_trainable() const { return trainable_elements_ != 0; }
  uint64_t trainable_elements() const { return trainable_elements_; }  // arena size, padding incl.
  uint64_t trainable_count() const;  // parameters that train, no padding
  uint64_t total_count() const;      // all parameters
  // Views of one trainable parameter in an arena.
  Tensor master(const std::string& name) const { return arena_view(master_, name); }
  Tensor grad(const std::string& name) const { return arena_view(grads_, name); }
  // Whole arenas ([rows, kArenaRow] f32; empty without trainable parameters).
  Tensor& master_arena() { return master_; }
  Tensor& grad_arena() { return grads_; }
  // A new zeroed arena of the same layout (the optimizer's state), whose memory is the tensors
  // appended to `owners`, which the caller keeps as long as the arena; and the view of one
  // trainable parameter in an arena of that layout.
  Tensor make_arena(const char* what, std::vector<Tensor>& owners) const;
  Tensor arena_view(const Tensor& arena, const std::string& name) const;
  // Records the refresh of every compute copy from its master (after an optimizer update).
  void record_refresh(vk::Recorder& rec);

 private:
  Parameter& mutable_at(const std::string& name);

  vk::Context& context_;
  DType dtype_;
  std::vector<Parameter> params_;
  uint64_t trainable_elements_ = 0;
  std::vector<uint64_t> chunk_rows_;  // arena chunk sizes, ending on parameter boundaries
  std::vector<Tensor> chunks_;        // owners of the master's and the gradients' memory
  Tensor master_, grads_;
};

}  // namespace vktrain::model

#pragma once
// Incremental decoding with a KV cache (one sequence, B = 1). prefill() runs the prompt through
// Transformer::record_forward and keeps every layer's rotated keys and values in the caches;
// step() runs one more token through every layer (model/decode_layer.hpp), attending to the
// cache. Both return the logits of the next token, f32 [V], as the full forward over the whole
// sequence computes them. LoRA adapters in the model's parameters apply unmerged. Each step
// records its command buffer anew (the cache length is a push constant of the decode kernel).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/activations.hpp"
#include "model/transformer.hpp"

namespace vktrain::model {

class Generator {
 public:
  // capacity: the most positions one sequence may hold (prompt and generated tokens).
  Generator(Transformer& model, int64_t capacity);
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }  // positions in the cache

  // Empties the cache and runs `prompt` (at least one token); the logits after its last token.
  std::vector<float> prefill(std::span<const int32_t> prompt);
  // Appends `token` at position length(); the logits after it.
  std::vector<float> step(int32_t token);

 private:
  std::vector<float> finish(vk::Recorder& rec, const Tensor& final_norm_row);

  Transformer& model_;
  int64_t capacity_, length_ = 0;
  std::vector<Tensor> k_cache_, v_cache_;  // per layer [1, capacity, Hkv, D], activation dtype
  Activations step_acts_;                  // B = T = 1, one layer set
  BatchTensors step_batch_;                // ids and positions [1, 1]
  Tensor logits_;                          // f32 [1, V]
};

}  // namespace vktrain::model

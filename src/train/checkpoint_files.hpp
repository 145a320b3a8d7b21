#pragma once
// The trainable state of a checkpoint directory, in the ecosystem's formats:
//   LoRA:  adapter_config.json + adapter_model.safetensors (a PEFT adapter, f32 masters)
//   full:  model.safetensors (every trainable master in f32, Hugging Face names)
//   both:  optimizer.safetensors (the optimizer's state under the names
//          Optimizer::state_names gives: AdamW's exp_avg.<name> and exp_avg_sq.<name>, f32),
//          whole even when the optimizer is sharded over MPI ranks: rank 0 gathers it
#include <string>

#include "io/peft_adapter.hpp"
#include "model/transformer.hpp"
#include "train/optimizer.hpp"

namespace vktrain::train {

// The model's LoRA adapter (f32 masters) as a PEFT adapter of `base_model`.
io::PeftAdapter adapter_of(const model::Transformer& model, const std::string& base_model);
// On rank 0; with a sharded optimizer every other rank calls send_optimizer_state meanwhile.
void write_trainable(const std::string& dir, const model::Transformer& model,
                     const Optimizer& optimizer, const std::string& base_model);
void send_optimizer_state(const model::Parameters& params, const Optimizer& optimizer);
// A whole model as a Hugging Face directory: config.json, model.safetensors (every base
// parameter in the run's dtype) and the tokenizer files of `base_model` when it is a directory.
void write_model_directory(const std::string& dir, const model::Transformer& model,
                           const std::string& base_model);
// Restores the masters, the compute copies and the optimizer state saved by write_trainable.
void read_trainable(model::Parameters& params, Optimizer& optimizer, const std::string& dir);

}  // namespace vktrain::train

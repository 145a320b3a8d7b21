#pragma once
// The trainable state of a checkpoint directory, in the ecosystem's formats:
//   LoRA:  adapter_config.json + adapter_model.safetensors (a PEFT adapter, f32 masters)
//   full:  model.safetensors (every trainable master in f32, Hugging Face names)
//   both:  optimizer.safetensors (the optimizer's state as Optimizer::state_tensors names it:
//          AdamW's exp_avg.<name> and exp_avg_sq.<name>, F32; AdamW 8-bit's
//          exp_avg_codes.<name> (U8) and exp_avg_absmax.<name> (F32, one a block) and the same
//          for exp_avg_sq; the header's metadata names the optimizer),
//          whole even when the optimizer is sharded over MPI ranks: rank 0 gathers it, and
//          the masters too when they are sharded with it (f16/bf16 runs)
#include <map>
#include <string>
#include <vector>

#include "io/peft_adapter.hpp"
#include "model/transformer.hpp"
#include "train/optimizer.hpp"

namespace vktrain::train {

// The f32 master of every trainable parameter by name, on rank 0 (Optimizer::read_master:
// every rank calls it, the others get an empty map).
using Masters = std::map<std::string, std::vector<float>>;
Masters read_masters(const model::Parameters& params, const Optimizer& optimizer);
// The model's LoRA adapter (f32 masters: `masters`, else read from the device) as a PEFT
// adapter of `base_model`.
io::PeftAdapter adapter_of(const model::Transformer& model, const std::string& base_model,
                           const Masters* masters = nullptr);
// On rank 0; with a sharded optimizer every other rank calls send_trainable meanwhile.
void write_trainable(const std::string& dir, const model::Transformer& model,
                     const Optimizer& optimizer, const std::string& base_model);
void send_trainable(const model::Parameters& params, const Optimizer& optimizer);
// A whole model as a Hugging Face directory: config.json, model.safetensors (every base
// parameter in the run's dtype, the trainable ones from `masters` when given) and the
// tokenizer files of `base_model` when it is a directory.
void write_model_directory(const std::string& dir, const model::Transformer& model,
                           const std::string& base_model, const Masters* masters = nullptr);
// Restores the masters, the compute copies and the optimizer state saved by write_trainable.
void read_trainable(model::Parameters& params, Optimizer& optimizer, const std::string& dir);

}  // namespace vktrain::train

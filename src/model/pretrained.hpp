#pragma once
// A model ready to run from files: the config and base weights of a Hugging Face directory or
// GGUF file, and optionally a PEFT adapter applied unmerged (its A and B feed every adapted
// projection, as PEFT runs it). Nothing trains.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "io/model_source.hpp"
#include "io/peft_adapter.hpp"
#include "model/transformer.hpp"

namespace vktrain::model {

// The PEFT adapter in `adapter_dir`, checked to fit `config` (model/adapter_merge.hpp).
io::PeftAdapter read_fitting_adapter(const std::string& adapter_dir, const io::ModelConfig& config);
// Writes the adapter's A and B into `params`, built with the adapter's rank and targets, as they
// are (f32): what a loaded adapter computes, and where a continued training run starts.
void load_adapter_weights(Parameters& params, const io::ModelConfig& config,
                          const io::PeftAdapter& adapter);

// The model of `source` (its config already read), its frozen matrices in `dtype` or, those
// `quantized` names, in their block types. Fails naming the adapter's file when its config or a
// tensor's shape does not fit the model.
std::unique_ptr<Transformer> load_pretrained(vk::Context& context, const io::ModelConfig& config,
                                             const io::ModelSource& source,
                                             const std::optional<std::string>& adapter_dir,
                                             DType dtype,
                                             const std::map<std::string, DType>& quantized = {});

}  // namespace vktrain::model

#pragma once
// A model ready to run from files: the config and base weights of a Hugging Face directory or
// GGUF file, and optionally a PEFT adapter applied unmerged (its A and B feed every adapted
// projection, as PEFT runs it). Nothing trains.
#include <memory>
#include <optional>
#include <string>

#include "model/transformer.hpp"

namespace vktrain::model {

// Fails naming the adapter's file when its config or a tensor's shape does not fit the model.
std::unique_ptr<Transformer> load_pretrained(vk::Context& context, const std::string& model_path,
                                             const std::optional<std::string>& adapter_dir,
                                             DType dtype);

}  // namespace vktrain::model

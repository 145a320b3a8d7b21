#pragma once
// What the commands that run a model share: --model's value (opened once per run as an
// io::ModelSource that every reader of the model is given), the device context from --device,
// and the dtype a run uses when the user says "auto".
#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "base/dtype.hpp"
#include "io/model_config.hpp"
#include "io/model_source.hpp"
#include "model/quantized.hpp"
#include "vk/context.hpp"

namespace vktrain::cli {

// Turns every --model value into a path as it is parsed: a Hugging Face repo id (Org/Name or
// Org/Name@revision) becomes its snapshot in the local Hugging Face cache (io/hf_cache.hpp); a
// path that exists stays as given.
CLI::Validator model_source();

vk::ContextOptions context_options(const std::optional<std::string>& device);
// f32, f16 or bf16 by name; "auto": bf16 where the device multiplies it on cooperative matrices
// (as fast as f16 there, H200: 20,095 against 20,125 tokens/s, and no loss scale), else f16 where
// the device multiplies that on them, else bf16.
DType run_dtype(const vk::Context& context, const std::string& name);

// --quantize TYPE: a Hugging Face model's frozen matrices quantized on load (QLoRA).
void add_quantize_option(CLI::App& command, std::optional<std::string>& quantize);
// The quantized base of a run (model/quantized.hpp; `model` null: a preset), its notes printed
// to stderr.
model::QuantizedBase quantized_base(const io::ModelConfig& config, const io::ModelSource* model,
                                    const std::optional<std::string>& quantize, DType dtype);

}  // namespace vktrain::cli

#include "cli/run_setup.hpp"

#include <fmt/format.h>

#include "io/hf_cache.hpp"
#include "ops/matmul.hpp"

namespace vktrain::cli {

CLI::Validator model_source() {
  return CLI::Validator(
      [](std::string& value) {
        value = io::resolve_model_source(value);
        return std::string();
      },
      "");
}

vk::ContextOptions context_options(const std::optional<std::string>& device) {
  vk::ContextOptions options = vk::ContextOptions::from_env();
  if (device) options.device = *device;
  return options;
}

DType run_dtype(const vk::Context& context, const std::string& name) {
  if (name != "auto") return dtype_from_name(name);
  auto on_matrix_units = [&](DType t) {
    return ops::matmul_choose(context, t, t) != ops::MatmulVariant::portable;
  };
  if (on_matrix_units(DType::bf16)) return DType::bf16;
  return on_matrix_units(DType::f16) ? DType::f16 : DType::bf16;
}

void add_quantize_option(CLI::App& command, std::optional<std::string>& quantize) {
  command.add_option("--quantize", quantize,
                     "keep a Hugging Face model's frozen matrices quantized on the device: "
                     "q8_0, q6_k, q5_k (Q5_K_M), q4_k (Q4_K_M) or q4_0 (a GGUF file keeps its "
                     "own types)");
}

model::QuantizedBase quantized_base(const io::ModelConfig& config, const io::ModelSource* model,
                                    const std::optional<std::string>& quantize, DType dtype) {
  model::QuantizedBase base = model::choose_quantized_base(config, model, quantize, dtype);
  for (const auto& note : base.notes) fmt::print(stderr, "note: {}\n", note);
  return base;
}

}  // namespace vktrain::cli

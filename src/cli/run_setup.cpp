#include "cli/run_setup.hpp"

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

}  // namespace vktrain::cli

#pragma once
// What the commands that run a model share: the device context from --device, and the dtype a
// run uses when the user says "auto".
#include <optional>
#include <string>

#include "base/dtype.hpp"
#include "vk/context.hpp"

namespace vktrain::cli {

vk::ContextOptions context_options(const std::optional<std::string>& device);
// f32, f16 or bf16 by name; "auto": f16 where the device multiplies it on cooperative matrices,
// else bf16 (exact in range, no loss scale).
DType run_dtype(const vk::Context& context, const std::string& name);

}  // namespace vktrain::cli

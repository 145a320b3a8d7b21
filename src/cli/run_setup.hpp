#pragma once
// What the commands that run a model share: the device context from --device, and the dtype a
// run uses when the user says "auto".
#include <optional>
#include <string>

#include "base/dtype.hpp"
#include "vk/context.hpp"

namespace vktrain::cli {

vk::ContextOptions context_options(const std::optional<std::string>& device);
// f32, f16 or bf16 by name; "auto": bf16 where the device multiplies it on cooperative matrices
// (as fast as f16 there, H200: 20,095 against 20,125 tokens/s, and no loss scale), else f16 where
// the device multiplies that on them, else bf16.
DType run_dtype(const vk::Context& context, const std::string& name);

}  // namespace vktrain::cli

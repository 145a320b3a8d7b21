#pragma once
#include <optional>
#include <string>

namespace vktrain::cli {

// `vktrain doctor`: the chosen device's capabilities, measured copy GB/s and matmul TFLOP/s per
// variant (each checked against a host reference), and what that means in plain words.
// Returns the exit status: non-zero when a kernel gave wrong results.
// `only` limits the matmul measurements to one variant, which must then be able to run.
int run_doctor(const std::optional<std::string>& device, const std::optional<std::string>& only);

}  // namespace vktrain::cli

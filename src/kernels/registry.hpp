#pragma once
// The SPIR-V of every kernel variant this build compiled, embedded in the binary and found by
// name ("matmul_bf16_f32"). Variants that the local glslc could not build (cooperative matrices
// on an old glslc) are simply absent.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace vktrain::kernels {

struct Spirv {
  const char* name;
  const uint32_t* words;
  size_t count;
  std::span<const uint32_t> code() const { return {words, count}; }
};

const Spirv* find(std::string_view name);  // nullptr when this build lacks the variant
const Spirv& get(std::string_view name);   // throws an Error naming the missing variant
std::vector<std::string_view> names();

}  // namespace vktrain::kernels

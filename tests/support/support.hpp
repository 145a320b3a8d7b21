#pragma once
// What the GPU tests share: one Context per test process, random data that is never zero, and
// host round trips of tensors.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "ops/tensor.hpp"
#include "vk/context.hpp"

namespace vktrain::test {

vk::Context& context();  // created on first use from the environment (VKTRAIN_VALIDATE, ...)

// Uniform in [-scale, scale] with |x| >= scale / 64, rounded to `dtype`.
std::vector<float> random_values(size_t n, uint32_t seed, DType dtype = DType::f32,
                                 float scale = 1.0f);

Tensor tensor_with(const std::vector<int64_t>& shape, DType dtype, const std::vector<float>& values,
                   const char* name = "t", vk::Context& ctx = context());

// Largest |got - want| relative to the largest |want| (1e-30 floor).
double relative_error(const std::vector<float>& got, const std::vector<double>& want);
double relative_error(const std::vector<float>& got, const std::vector<float>& want);

// A fresh folder for one test, named after it, removed with everything in it at the end.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string write(const std::string& name, const std::string& text) const;  // -> its path
  std::filesystem::path path;
};

// The message of the vktrain::Error that `action` throws, or "" when it throws none.
std::string error_message(const std::function<void()>& action);

}  // namespace vktrain::test

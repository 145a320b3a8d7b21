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

// n seeded random bytes (the blocks of quantized tensors).
std::vector<std::byte> random_bytes(size_t n, uint32_t seed);

// Every block dtype (q8_0 ... q6_k, mxfp4).
std::vector<DType> block_types();

// Random blocks of block dtype `t` for `rows` rows of `cols` values: random quant bytes (every
// code appears in a few thousand values) and f16 scales drawn from the extremes (f16 max and
// -max, the smallest normal, subnormals, zero) and ordinary values, never inf or NaN. MXFP4's
// E8M0 scales likewise: 0, 1 and 2 (subnormal values), 2^-27, 1, 2^7 (values up to 768, so
// products in f16 stay finite) and ordinary ones; never those whose values are infinite.
std::vector<std::byte> random_blocks(DType t, uint64_t rows, uint64_t cols, uint32_t seed);

Tensor tensor_with(const std::vector<int64_t>& shape, DType dtype, const std::vector<float>& values,
                   const char* name = "t", vk::Context& ctx = context());

// Largest |got - want| relative to the largest |want| (1e-30 floor).
double relative_error(const std::vector<float>& got, const std::vector<double>& want);
double relative_error(const std::vector<float>& got, const std::vector<float>& want);

// Finite differences for backward tests. A forward op f(x) is checked through the scalar
// loss L = sum(f(x) * r) for a random r: its gradient is backward(dy = r).
double dot(const std::vector<float>& y, const std::vector<float>& r);
// (loss() with x[i] + eps  -  loss() with x[i] - eps) / 2 eps; x[i] is restored afterwards.
double central_difference(std::vector<float>& x, size_t i, float eps,
                          const std::function<double()>& loss);
// A few indices spread over [0, n): first, last and `count` - 2 seeded random ones.
std::vector<size_t> sample_indices(size_t n, size_t count, uint32_t seed);

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

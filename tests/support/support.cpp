#include "support/support.hpp"

#include <algorithm>
#include <fstream>
#include <cmath>
#include <memory>
#include <random>

#include <gtest/gtest.h>
#include <unistd.h>

#include "base/error.hpp"

namespace vktrain::test {

vk::Context& context() {
  static auto ctx = std::make_unique<vk::Context>();
  return *ctx;
}

std::vector<float> random_values(size_t n, uint32_t seed, DType dtype, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> magnitude(scale / 64, scale);
  std::bernoulli_distribution negative(0.5);
  std::vector<float> v(n);
  for (auto& x : v) x = round_to(dtype, negative(rng) ? -magnitude(rng) : magnitude(rng));
  return v;
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> bytes(n);
  for (auto& b : bytes) b = std::byte(rng() >> 24);
  return bytes;
}

std::vector<DType> block_types() {
  std::vector<DType> types;
  for (DType t : all_dtypes())
    if (dtype_is_block(t)) types.push_back(t);
  return types;
}

std::vector<std::byte> random_blocks(DType t, uint64_t rows, uint64_t cols, uint32_t seed) {
  // Byte offsets of each type's f16 fields (ggml-common.h).
  std::vector<uint32_t> scales;
  switch (t) {
    case DType::q8_0: case DType::q4_0: case DType::q5_0: scales = {0}; break;
    case DType::q4_1: case DType::q5_1: case DType::q4_k: case DType::q5_k: scales = {0, 2}; break;
    case DType::q2_k: scales = {80, 82}; break;
    case DType::q3_k: scales = {108}; break;
    case DType::q6_k: scales = {208}; break;
    case DType::mxfp4: break;  // a one-byte scale, below
    default: fail("[test] random_blocks: {} is not a block type", dtype_name(t));
  }
  const uint16_t extremes[] = {0x7bff, 0xfbff, 0x0400, 0x0001, 0x83ff, 0x0000};
  std::mt19937 rng(seed);
  auto bytes = random_bytes(rows * dtype_bytes(t, cols), seed);
  DTypeBlock block = dtype_block(t);
  for (size_t at = 0; at < bytes.size(); at += block.bytes)
    for (uint32_t offset : scales) {
      uint32_t pick = rng() % 16;
      // Six in sixteen scales an extreme, the others ordinary (|d| from 2^-9 to 2^3).
      uint16_t d = pick < 6 ? extremes[pick] : uint16_t((rng() & 0x8000) | (0x1800 + rng() % 0x3000));
      bytes[at + offset] = std::byte(d & 0xff);
      bytes[at + offset + 1] = std::byte(d >> 8);
    }
  if (t == DType::mxfp4) {
    const uint8_t extremes_e8m0[] = {0, 1, 2, 134, 100, 127};
    for (size_t at = 0; at < bytes.size(); at += block.bytes) {
      uint32_t pick = rng() % 16;
      bytes[at] = std::byte(pick < 6 ? extremes_e8m0[pick] : uint8_t(118 + rng() % 13));
    }
  }
  return bytes;
}

Tensor tensor_with(const std::vector<int64_t>& shape, DType dtype, const std::vector<float>& values,
                   const char* name, vk::Context& ctx) {
  Tensor t = make_tensor(ctx, dtype, shape, name);
  write_floats(ctx, t, values);
  return t;
}

double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  double worst = 0, largest = 1e-30;
  for (size_t i = 0; i < want.size(); ++i) {
    double diff = std::fabs(double(got.at(i)) - want[i]);
    worst = std::isnan(diff) ? INFINITY : std::max(worst, diff);
    largest = std::max(largest, std::fabs(want[i]));
  }
  return got.size() == want.size() ? worst / largest : INFINITY;
}

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  return relative_error(got, std::vector<double>(want.begin(), want.end()));
}

double dot(const std::vector<float>& y, const std::vector<float>& r) {
  double sum = 0;
  for (size_t i = 0; i < y.size(); ++i) sum += double(y[i]) * double(r.at(i));
  return sum;
}

double central_difference(std::vector<float>& x, size_t i, float eps,
                          const std::function<double()>& loss) {
  float saved = x.at(i);
  x[i] = saved + eps;
  double plus = loss();
  x[i] = saved - eps;
  double minus = loss();
  x[i] = saved;
  return (plus - minus) / (double(saved + eps) - double(saved - eps));
}

std::vector<size_t> sample_indices(size_t n, size_t count, uint32_t seed) {
  std::vector<size_t> out;
  if (n == 0) return out;
  out.push_back(0);
  if (n > 1) out.push_back(n - 1);
  std::mt19937 rng(seed);
  while (out.size() < std::min(count, n)) out.push_back(rng() % n);
  return out;
}

TempDir::TempDir() {
  const auto* test = testing::UnitTest::GetInstance()->current_test_info();
  path = std::filesystem::temp_directory_path() /
         ("vktrain-" + std::to_string(::getpid()) + "-" + (test ? test->name() : "test"));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
  std::ofstream(file(name), std::ios::binary) << text;
  return file(name);
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace vktrain::test

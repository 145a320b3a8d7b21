#include "io/ggml_dtype.hpp"

#include <utility>

#include "base/error.hpp"

namespace vktrain::io {
namespace {

constexpr std::pair<DType, GgmlType> kPairs[] = {
    {DType::f32, GgmlType::f32},   {DType::f16, GgmlType::f16},   {DType::bf16, GgmlType::bf16},
    {DType::i32, GgmlType::i32},   {DType::q8_0, GgmlType::q8_0}, {DType::q4_0, GgmlType::q4_0},
    {DType::q4_1, GgmlType::q4_1}, {DType::q5_0, GgmlType::q5_0}, {DType::q5_1, GgmlType::q5_1},
    {DType::q2_k, GgmlType::q2_k}, {DType::q3_k, GgmlType::q3_k}, {DType::q4_k, GgmlType::q4_k},
    {DType::q5_k, GgmlType::q5_k}, {DType::q6_k, GgmlType::q6_k},
    {DType::mxfp4, GgmlType::mxfp4},
};

}  // namespace

std::optional<DType> device_dtype(GgmlType type) {
  for (auto [dtype, ggml] : kPairs)
    if (ggml == type) return dtype;
  return std::nullopt;
}

GgmlType ggml_type_of(DType dtype) {
  for (auto [d, ggml] : kPairs)
    if (d == dtype) return ggml;
  fail("[quant] {} has no ggml type", dtype_name(dtype));
}

}  // namespace vktrain::io

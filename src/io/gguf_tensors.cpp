#include "io/gguf_tensors.hpp"

#include "base/error.hpp"
#include "io/ggml_dtype.hpp"
#include "io/gguf_names.hpp"
#include "io/quant.hpp"

namespace vktrain::io {

GgufModelTensors::GgufModelTensors(const GgufReader& gguf, const ModelConfig& config)
    : gguf_(gguf), config_(config) {
  for (const auto& name : gguf.tensor_names())
    if (name != "rope_freqs.weight") by_hf_[gguf_to_hf_name(config.family, name)] = name;
}

const GgufTensorInfo* GgufModelTensors::find(const std::string& hf_name) const {
  auto found = by_hf_.find(hf_name);
  return found == by_hf_.end() ? nullptr : &gguf_.tensor(found->second);
}

GgufEncodedTensor GgufModelTensors::encoded(const std::string& hf_name,
                                             const std::vector<int64_t>& shape) const {
  auto found = by_hf_.find(hf_name);
  if (found == by_hf_.end())
    fail("[model] {}: the file has no tensor {} (our {})", gguf_.path(),
         hf_to_gguf_name(config_.family, hf_name), hf_name);
  const GgufTensorInfo& info = gguf_.tensor(found->second);
  GgufEncodedTensor t{found->second, info.type, {info.dims.rbegin(), info.dims.rend()},
                      gguf_.data(found->second), {}};
  if (t.shape != shape)
    fail("[model] {}: tensor {} has shape [{}], the config implies [{}]", gguf_.path(),
         t.gguf_name, fmt::join(t.shape, ", "), fmt::join(shape, ", "));
  if (const int64_t heads = qk_permuted_heads(config_, hf_name)) {
    t.reordered.resize(t.file_bytes.size());
    unpermute_qk_rows(t.reordered, t.file_bytes, heads,
                      ggml_row_bytes(info.type, uint64_t(t.shape.back())));
  }
  return t;
}

std::vector<float> GgufModelTensors::values(const std::string& hf_name,
                                            const GgufEncodedTensor& tensor) const {
  if (!can_dequantize(tensor.type))
    fail("[model] {}: tensor {} is {}, which vktrain cannot dequantize yet", gguf_.path(),
         tensor.gguf_name, ggml_type_name(tensor.type));
  const GgufTensorInfo& info = gguf_.tensor(tensor.gguf_name);
  std::vector<float> values = dequantize(tensor.bytes(), tensor.type, info.elements());
  if (shifts_norm(config_.family, hf_name)) norm_from_gguf(values);
  return values;
}

}  // namespace vktrain::io

#include "model/adapter_merge.hpp"

#include <fmt/ranges.h>

#include "base/error.hpp"
#include "io/gguf.hpp"
#include "io/gguf_names.hpp"
#include "io/quant.hpp"
#include "model/layout.hpp"

namespace vktrain::model {

void check_adapter_fits(const io::PeftAdapter& adapter, const io::ModelConfig& config,
                        const std::string& adapter_dir) {
  const auto specs = lora_parameters(config, adapter.lora);
  for (const auto& spec : specs) {
    auto shape = adapter.shapes.find(spec.name);
    if (shape == adapter.shapes.end())
      fail("[adapter] {}: the adapter has no {}, which its config's targets imply for this model",
           adapter_dir, spec.name);
    if (shape->second != spec.shape)
      fail("[adapter] {}: {} has shape [{}], the model implies [{}]; was the adapter trained on "
           "another model?",
           adapter_dir, spec.name, fmt::join(shape->second, ", "), fmt::join(spec.shape, ", "));
  }
  if (adapter.weights.size() != specs.size())
    fail("[adapter] {}: the adapter has {} weights, the model with its config's targets has {}; "
         "was it trained on another model?",
         adapter_dir, adapter.weights.size(), specs.size());
}

bool merge_adapter(std::span<float> weight, const std::string& name, const io::PeftAdapter& adapter) {
  const std::string_view suffix = ".weight";
  if (!name.ends_with(suffix)) return false;
  const std::string module = name.substr(0, name.size() - suffix.size());
  auto a = adapter.weights.find(module + ".lora_A.weight");
  auto b = adapter.weights.find(module + ".lora_B.weight");
  if (a == adapter.weights.end() || b == adapter.weights.end()) return false;
  const auto& a_shape = adapter.shapes.at(a->first);  // [R, in]
  const int64_t rank = a_shape[0], in = a_shape[1];
  const int64_t out = int64_t(weight.size()) / in;
  const float scale = float(adapter.lora.scale());
  std::vector<float> row(static_cast<size_t>(in));
  for (int64_t o = 0; o < out; ++o) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int64_t r = 0; r < rank; ++r) {
      const float br = b->second[size_t(o * rank + r)];
      const float* ar = a->second.data() + r * in;
      for (int64_t i = 0; i < in; ++i) row[size_t(i)] += br * ar[i];
    }
    float* w = weight.data() + o * in;
    for (int64_t i = 0; i < in; ++i) w[i] += scale * row[size_t(i)];
  }
  return true;
}

namespace {

// s B A of the matrix `hf_name` in the file's row order (llama's q/k rows permuted as the
// converter does), or nothing when the adapter does not adapt it.
std::vector<float> file_order_delta(const io::ModelConfig& config, const std::string& hf_name,
                                    const io::GgufTensorInfo& info, const io::PeftAdapter& adapter) {
  std::vector<float> delta(size_t(info.elements()), 0.0f);
  if (info.dims.size() != 2 || !merge_adapter(delta, hf_name, adapter)) return {};
  const int64_t heads = io::qk_permuted_heads(config, hf_name);
  if (!heads) return delta;
  std::vector<float> permuted(delta.size());
  io::permute_qk_rows(std::as_writable_bytes(std::span(permuted)), std::as_bytes(std::span(delta)),
                      heads, size_t(info.dims[0]) * sizeof(float));
  return permuted;
}

}  // namespace

void write_merged_gguf(const std::string& out, const io::GgufReader& base,
                       const io::ModelConfig& config, const io::PeftAdapter& adapter) {
  std::vector<std::vector<std::byte>> merged;  // owns the bytes of the merged tensors
  merged.reserve(base.tensor_names().size());
  std::vector<io::GgufTensor> tensors;
  for (const auto& name : base.tensor_names()) {
    const io::GgufTensorInfo& info = base.tensor(name);
    std::span<const std::byte> bytes = base.data(name);
    const std::vector<float> delta =
        name == "rope_freqs.weight"
            ? std::vector<float>{}
            : file_order_delta(config, io::gguf_to_hf_name(config.family, name), info, adapter);
    if (!delta.empty()) {
      if (!io::can_quantize(info.type))
        fail("[export] {}: tensor {} is {}, which vktrain can read but not write; merge with "
             "--gguf-type q8_0, f16 or f32 instead",
             base.path(), name, io::ggml_type_name(info.type));
      std::vector<float> values = io::dequantize(bytes, info.type, info.elements());
      for (size_t i = 0; i < values.size(); ++i) values[i] += delta[i];
      merged.push_back(io::quantize(values, info.type));
      bytes = merged.back();
    }
    tensors.push_back({name, info.type, info.dims, bytes});
  }
  io::write_gguf(out, tensors, base.metadata());
}

}  // namespace vktrain::model

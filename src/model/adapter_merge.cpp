#include "model/adapter_merge.hpp"

#include <fmt/ranges.h>

#include "base/error.hpp"
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

}  // namespace vktrain::model

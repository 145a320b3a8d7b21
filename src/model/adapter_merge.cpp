#include "model/adapter_merge.hpp"

#include <fmt/ranges.h>

#include "arch/family.hpp"
#include "arch/tensor_names.hpp"
#include "base/error.hpp"
#include "io/gguf.hpp"
#include "io/gguf_names.hpp"
#include "io/quant.hpp"
#include "model/expert_tensors.hpp"
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
    if (shape->second != peft_shape(spec))
      fail("[adapter] {}: {} has shape [{}], the model implies [{}]; was the adapter trained on "
           "another model?",
           adapter_dir, spec.name, fmt::join(shape->second, ", "),
           fmt::join(peft_shape(spec), ", "));
  }
  if (adapter.weights.size() != specs.size())
    fail("[adapter] {}: the adapter has {} weights, the model with its config's targets has {}; "
         "was it trained on another model?",
         adapter_dir, adapter.weights.size(), specs.size());
}

namespace {

// The adapter module of base parameter `name` ("…q_proj.weight": "…q_proj"; an expert weight
// "…mlp.experts.gate_up_proj": where PEFT keeps its ParamWrapper), or "" when not adapted.
std::string adapter_module(const std::string& name, const io::LoraConfig& lora) {
  for (const char* target : io::kExpertTargets) {
    const std::string path = io::kExpertTargetPrefix + std::string(target);
    if (!name.ends_with("." + path) || !targets_expert(lora, target)) continue;
    const std::string layer = name.substr(0, name.size() - path.size());  // "model.layers.3."
    const bool nested = target == std::string(io::kExpertTargets[0]) &&
                        targets_expert(lora, io::kExpertTargets[1]);
    return layer + (nested ? "mlp.experts.base_layer" : "mlp.experts");
  }
  const std::string_view suffix = ".weight";
  return name.ends_with(suffix) ? name.substr(0, name.size() - suffix.size()) : "";
}

}  // namespace

bool merge_adapter(std::span<float> weight, const io::ModelConfig& config, const std::string& name,
                   const io::PeftAdapter& adapter) {
  const std::string module = adapter_module(name, adapter.lora);
  if (module.empty()) return false;
  auto a = adapter.weights.find(module + ".lora_A.weight");
  auto b = adapter.weights.find(module + ".lora_B.weight");
  if (a == adapter.weights.end() || b == adapter.weights.end()) return false;
  // PEFT's layouts: A [E r, in], B [out, r E] with expert e's column j at j E + e; E is 1 for a
  // projection (W' = W + s B A) and the experts' count for an expert weight [E, out, in]
  // (get_delta_weight's einsum "o r e, e r i -> e o i").
  const auto& a_shape = adapter.shapes.at(a->first);
  const int64_t in = a_shape[1], rank = adapter.lora.rank;
  const int64_t experts = a_shape[0] / rank;
  const int64_t out = int64_t(weight.size()) / (in * experts);
  if (out * in * experts != int64_t(weight.size()) ||
      adapter.shapes.at(b->first) != std::vector<int64_t>{out, rank * experts})
    fail("[adapter] {}'s adapter does not fit its {} values", name, weight.size());
  const float scale = float(adapter.lora.scale());
  // gpt-oss's gate_up: PEFT's out rows interleave gate and up (deinterleaved_gate_up_row).
  const bool interleaved =
      arch::describe(config.family).experts.interleaved_gate_up &&
      name.ends_with(std::string(".") + io::kExpertTargetPrefix + io::kExpertTargets[0]);
  std::vector<float> row(static_cast<size_t>(in));
  for (int64_t e = 0; e < experts; ++e)
    for (int64_t o = 0; o < out; ++o) {
      std::fill(row.begin(), row.end(), 0.0f);
      for (int64_t r = 0; r < rank; ++r) {
        const float br = b->second[size_t(o * rank * experts + r * experts + e)];
        const float* ar = a->second.data() + (e * rank + r) * in;
        for (int64_t i = 0; i < in; ++i) row[size_t(i)] += br * ar[i];
      }
      const int64_t here = interleaved ? deinterleaved_gate_up_row(o, out) : o;
      float* w = weight.data() + (e * out + here) * in;
      for (int64_t i = 0; i < in; ++i) w[i] += scale * row[size_t(i)];
    }
  return true;
}

namespace {

// The expert adapter's s B A of a GGUF expert tensor [E, R, Q] (no rows reordered): down's whole,
// or the gate or up half (ffn_gate_exps, ffn_up_exps) of the fused gate_up's; nothing when the
// adapter does not adapt it.
std::vector<float> expert_delta(const io::ModelConfig& config, const std::string& hf_name,
                                const io::GgufTensorInfo& info, const io::PeftAdapter& adapter) {
  const int64_t experts = int64_t(info.dims[2]);
  for (const std::string half : {arch::hf::kExpertsGate, arch::hf::kExpertsUp}) {
    if (!hf_name.ends_with(half)) continue;
    const std::string fused =
        hf_name.substr(0, hf_name.size() - half.size()) + arch::hf::kExpertsGateUp;
    std::vector<float> delta(2 * size_t(info.elements()), 0.0f);
    if (!merge_adapter(delta, config, fused, adapter)) return {};
    auto [gate, up] = split_gate_up(delta, experts);
    return half == arch::hf::kExpertsGate ? gate : up;
  }
  std::vector<float> delta(size_t(info.elements()), 0.0f);
  if (!merge_adapter(delta, config, hf_name, adapter)) return {};
  return delta;
}

// s B A of the matrix `hf_name` in the file's row order (llama's q/k rows permuted as the
// converter does), or nothing when the adapter does not adapt it.
std::vector<float> file_order_delta(const io::ModelConfig& config, const std::string& hf_name,
                                    const io::GgufTensorInfo& info, const io::PeftAdapter& adapter) {
  if (info.dims.size() == 3) return expert_delta(config, hf_name, info, adapter);
  std::vector<float> delta(size_t(info.elements()), 0.0f);
  if (info.dims.size() != 2 || !merge_adapter(delta, config, hf_name, adapter)) return {};
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

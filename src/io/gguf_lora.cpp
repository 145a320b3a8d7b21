#include "io/gguf_lora.hpp"

#include <algorithm>
#include <cmath>

#include "base/error.hpp"
#include "io/gguf.hpp"
#include "io/gguf_names.hpp"

namespace vktrain::io {
namespace {

constexpr std::string_view kA = ".lora_A.weight", kB = ".lora_B.weight";

struct Encoded {
  std::string name;
  std::vector<uint64_t> dims;
  std::vector<std::byte> bytes;
};

const std::vector<float>& weight_of(const PeftAdapter& adapter, const std::string& name,
                                    const std::vector<int64_t>** shape) {
  auto w = adapter.weights.find(name);
  auto s = adapter.shapes.find(name);
  if (w == adapter.weights.end() || s == adapter.shapes.end())
    fail("[gguf-lora] the adapter has no {} to pair with its other half", name);
  if (s->second.size() != 2)
    fail("[gguf-lora] adapter tensor {} has {} dimensions, expected 2", name, s->second.size());
  *shape = &s->second;
  return w->second;
}

}  // namespace

double gguf_lora_alpha(const LoraConfig& lora) {
  return lora.rslora ? lora.alpha * std::sqrt(double(lora.rank)) : lora.alpha;
}

void write_gguf_lora(const std::string& path, const ModelConfig& config, const PeftAdapter& adapter,
                     GgmlType type) {
  if (type != GgmlType::f32 && type != GgmlType::f16)
    fail("[gguf-lora] adapters are written in F32 or F16, not {}", ggml_type_name(type));
  if (adapter.lora.alpha == 0)
    fail("[gguf-lora] lora_alpha is 0, which llama.cpp reads as a scale of 1; the adapter has no "
         "effect, so there is nothing to export");
  for (const auto& target : adapter.lora.targets)
    if (std::ranges::find(kExpertTargets, target) != std::end(kExpertTargets))
      fail("[gguf-lora] the adapter adapts the experts' {} (PEFT's target_parameters); llama.cpp "
           "can apply LoRA to ffn_*_exps (per-expert lora_a {{in, r, E}}, lora_b {{r, out, E}}) "
           "but vktrain does not write those yet; export it merged (--format gguf or hf) or as "
           "PEFT",
           target);
  std::vector<Encoded> encoded;
  for (const auto& [name, a] : adapter.weights) {
    if (!name.ends_with(kA)) continue;
    const std::string module = name.substr(0, name.size() - kA.size());
    const std::vector<int64_t>*a_shape, *b_shape;
    weight_of(adapter, name, &a_shape);  // checks the shape
    const std::vector<float>& b = weight_of(adapter, module + std::string(kB), &b_shape);
    const int64_t rank = (*a_shape)[0], in = (*a_shape)[1], out = (*b_shape)[0];
    if ((*b_shape)[1] != rank)
      fail("[gguf-lora] {}{} has rank {} but its lora_A {}", module, kB, (*b_shape)[1], rank);

    std::vector<float> b_rows(b);
    if (const int64_t heads = qk_permuted_heads(config, module + ".weight"))
      permute_qk_rows(std::as_writable_bytes(std::span(b_rows)), std::as_bytes(std::span(b)), heads,
                      size_t(rank) * sizeof(float));
    const std::string base = hf_to_gguf_name(config.family, module + ".weight");
    encoded.push_back({base + ".lora_a", {uint64_t(in), uint64_t(rank)}, quantize(a, type)});
    encoded.push_back({base + ".lora_b", {uint64_t(rank), uint64_t(out)}, quantize(b_rows, type)});
  }
  if (encoded.empty()) fail("[gguf-lora] the adapter has no lora_A/lora_B weights");
  for (const auto& [name, values] : adapter.weights)
    if (name.ends_with(kB) &&
        !adapter.weights.count(name.substr(0, name.size() - kB.size()) + std::string(kA)))
      fail("[gguf-lora] the adapter has no {}{} to pair with {}",
           name.substr(0, name.size() - kB.size()), kA, name);

  std::map<std::string, GgufValue> metadata;
  metadata["general.architecture"] = std::string(gguf_architecture(config.family));
  metadata["general.type"] = "adapter";
  metadata["adapter.type"] = "lora";
  metadata["adapter.lora.alpha"] = float(gguf_lora_alpha(adapter.lora));
  metadata["general.file_type"] = uint32_t(type == GgmlType::f16 ? 1 : 0);
  metadata["general.quantization_version"] = uint32_t(2);
  std::vector<GgufTensor> tensors;
  for (const auto& e : encoded) tensors.push_back({e.name, type, e.dims, e.bytes});
  write_gguf(path, tensors, metadata);
}

}  // namespace vktrain::io

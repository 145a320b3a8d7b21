#include "io/gguf_lora.hpp"

#include <algorithm>
#include <cmath>

#include "arch/family.hpp"
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

// The expert weight an adapter on "…mlp.experts" or "…mlp.experts.base_layer" adapts: PEFT nests
// gate_up_proj's ParamWrapper inside down_proj's when both are targeted, else the one there is.
std::string expert_target(const std::string& module, const LoraConfig& lora) {
  auto targeted = [&](const char* t) { return std::ranges::find(lora.targets, t) != lora.targets.end(); };
  if (module.ends_with(".base_layer") || !targeted(kExpertTargets[1])) return kExpertTargets[0];
  return kExpertTargets[1];
}

// An expert adapter as llama.cpp's build_lora_mm_id multiplies it by the routed experts
// (ggml_mul_mat_id): per base tensor ffn_{gate,up,down}_exps, lora_a {in, r, E} (PEFT's lora_A
// [E r, in] as it is) and lora_b {r, out, E} (expert e's block of lora_B [out, r E], whose column
// j * E + e is its column j). GGUF keeps gate_up's halves apart: both share A, each takes its
// rows of B: the first and second half, or for gpt-oss (whose PEFT rows are its checkpoint's
// columns, gate and up alternating) the even and odd rows. llama.cpp's gpt-oss graph
// (models/openai-moe.cpp) runs its experts through build_moe_ffn, which applies these.
void encode_experts(std::vector<Encoded>& encoded, const ModelConfig& config,
                    const PeftAdapter& adapter, const std::string& module,
                    const std::vector<float>& a, const std::vector<float>& b, int64_t rank,
                    int64_t in, int64_t out, GgmlType type) {
  const int64_t experts = adapter.shapes.at(module + std::string(kA))[0] / rank;
  const std::string layer = module.substr(0, module.find(".mlp.experts") + 1);  // "model.layers.3."
  const bool gate_up = expert_target(module, adapter.lora) == kExpertTargets[0];
  const int64_t rows = gate_up ? out / 2 : out;
  const bool interleaved = gate_up && arch::describe(config.family).experts.interleaved_gate_up;
  // Half h's row o is B's row first + step o.
  const int64_t step = interleaved ? 2 : 1;
  const std::vector<std::pair<std::string, int64_t>> halves =
      gate_up ? std::vector<std::pair<std::string, int64_t>>{{"mlp.experts.gate_proj", 0},
                                                             {"mlp.experts.up_proj",
                                                              interleaved ? 1 : rows}}
              : std::vector<std::pair<std::string, int64_t>>{{"mlp.experts.down_proj", 0}};
  for (const auto& [name, first] : halves) {
    std::vector<float> blocks(size_t(experts * rows * rank));
    for (int64_t e = 0; e < experts; ++e)
      for (int64_t o = 0; o < rows; ++o)
        for (int64_t j = 0; j < rank; ++j)
          blocks[size_t((e * rows + o) * rank + j)] =
              b[size_t((first + step * o) * rank * experts + j * experts + e)];
    const std::string base = hf_to_gguf_name(config.family, layer + name);
    encoded.push_back({base + ".lora_a", {uint64_t(in), uint64_t(rank), uint64_t(experts)},
                       quantize(a, type)});
    encoded.push_back({base + ".lora_b", {uint64_t(rank), uint64_t(rows), uint64_t(experts)},
                       quantize(blocks, type)});
  }
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
  std::vector<Encoded> encoded;
  for (const auto& [name, a] : adapter.weights) {
    if (!name.ends_with(kA)) continue;
    const std::string module = name.substr(0, name.size() - kA.size());
    const std::vector<int64_t>*a_shape, *b_shape;
    weight_of(adapter, name, &a_shape);  // checks the shape
    const std::vector<float>& b = weight_of(adapter, module + std::string(kB), &b_shape);
    const int64_t in = (*a_shape)[1], out = (*b_shape)[0];
    if (module.ends_with(".mlp.experts") || module.ends_with(".mlp.experts.base_layer")) {
      const int64_t rank = adapter.lora.rank;
      if (rank <= 0 || (*a_shape)[0] % rank || (*b_shape)[1] != (*a_shape)[0])
        fail("[gguf-lora] {}: lora_A [{}, {}] and lora_B [{}, {}] are not rank {} per expert",
             module, (*a_shape)[0], in, out, (*b_shape)[1], rank);
      encode_experts(encoded, config, adapter, module, a, b, rank, in, out, type);
      continue;
    }
    const int64_t rank = (*a_shape)[0];
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

#include "arch/family.hpp"

#include <algorithm>
#include <vector>

#include "base/error.hpp"

namespace vktrain::arch {

// Defined one per file (llama.cpp, mistral.cpp, ...).
extern const FamilyDescription kLlama, kMistral, kQwen2, kQwen3, kGemma3, kQwen3Moe,
    kMixtral, kGptOss;

namespace {

constexpr const FamilyDescription* kFamilies[] = {&kLlama,  &kMistral,  &kQwen2,   &kQwen3,
                                                  &kGemma3, &kQwen3Moe, &kMixtral, &kGptOss};
constexpr const FamilyDescription* kPresetOrder[] = {&kQwen3,    &kQwen2,   &kLlama, &kGemma3,
                                                     &kQwen3Moe, &kMixtral, &kGptOss};

// "a, b and c"
std::string listing(const std::vector<std::string_view>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += std::string(i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + std::string(names[i]);
  return out;
}

}  // namespace

const FamilyDescription& describe(Family family) {
  const size_t index = size_t(family);
  if (index >= std::size(kFamilies) || kFamilies[index]->family != family)
    fail("[arch] family {} has no description in kFamilies (or is out of arch::Family's order)",
         index);
  return *kFamilies[index];
}

std::span<const FamilyDescription* const> families() { return kFamilies; }
std::span<const FamilyDescription* const> preset_families() { return kPresetOrder; }

const FamilyDescription* family_of_model_type(std::string_view model_type) {
  for (const FamilyDescription* d : kFamilies)
    if (std::ranges::find(d->model_types, model_type) != d->model_types.end()) return d;
  return nullptr;
}

const FamilyDescription* family_of_gguf_architecture(std::string_view architecture,
                                                     bool experts) {
  const FamilyDescription* first = nullptr;
  for (const FamilyDescription* d : kFamilies) {
    if (d->gguf_architecture != architecture) continue;
    if (d->mixture_of_experts == experts) return d;
    if (!first) first = d;
  }
  return first;
}

std::string supported_families() {
  std::vector<std::string_view> names;
  for (const FamilyDescription* d : kFamilies) names.push_back(d->name);
  return listing(names);
}

std::string supported_gguf_architectures() {
  std::vector<std::string_view> names;
  for (const FamilyDescription* d : kFamilies)
    if (family_of_gguf_architecture(d->gguf_architecture) == d) names.push_back(d->gguf_architecture);
  return listing(names);
}

std::string_view family_name(Family family) { return describe(family).name; }

std::string_view causal_lm_architecture(Family family) { return describe(family).architecture; }

ModelConfig family_config(Family family) {
  const FamilyDescription& d = describe(family);
  ModelConfig c;
  c.family = family;
  c.architecture = d.architecture;
  c.attention_bias = d.attention_bias;
  c.qk_norm = d.qk_norm;
  c.norm_plus_one = c.sandwich_norms = c.embed_scale = d.gemma_norms;
  c.activation = d.activation;
  c.attention_sinks = d.attention_sinks;
  c.output_bias = d.output_bias;
  return c;
}

}  // namespace vktrain::arch

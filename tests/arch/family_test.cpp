// The family descriptions (arch/family.hpp) as the rest of vktrain relies on them: one per
// arch::Family, found by each of its names, and tables that translate without ambiguity.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "arch/family.hpp"

namespace vktrain {
namespace {

using arch::Family;
using arch::FamilyDescription;

TEST(ArchFamily, EveryFamilyIsDescribedOnceAndFoundByItsNames) {
  EXPECT_EQ(arch::families().size(), size_t(Family::gpt_oss) + 1);
  std::set<std::string_view> names, model_types;
  for (const FamilyDescription* d : arch::families()) {
    SCOPED_TRACE(std::string(d->name));
    EXPECT_EQ(&arch::describe(d->family), d);
    EXPECT_TRUE(names.insert(d->name).second);
    EXPECT_EQ(arch::family_config(d->family).architecture, d->architecture);
    for (std::string_view type : d->model_types) {
      EXPECT_TRUE(model_types.insert(type).second) << type << " read as two families";
      EXPECT_EQ(arch::family_of_model_type(type), d);
    }
    // What vktrain writes, it reads back as the same family.
    EXPECT_EQ(arch::family_of_model_type(d->written_model_type), d);
    EXPECT_NE(arch::family_of_gguf_architecture(d->gguf_architecture), nullptr);
    // A GGUF that counts experts finds the family with experts its architecture names.
    if (d->mixture_of_experts)
      EXPECT_EQ(arch::family_of_gguf_architecture(d->gguf_architecture, true), d);
  }
  EXPECT_EQ(arch::family_of_model_type("falcon"), nullptr);
  EXPECT_EQ(arch::family_of_gguf_architecture("falcon"), nullptr);
  EXPECT_EQ(arch::family_of_gguf_architecture("llama", true)->family, Family::mixtral);
  EXPECT_EQ(arch::family_of_gguf_architecture("llama", false)->family, Family::llama);
  EXPECT_EQ(arch::family_of_gguf_architecture("qwen3", true)->family, Family::qwen3);
  EXPECT_EQ(arch::supported_families(),
            "llama, mistral, qwen2, qwen3, gemma3, qwen3_moe, mixtral and gpt_oss");
  EXPECT_EQ(arch::supported_gguf_architectures(),
            "llama, qwen2, qwen3, gemma3, qwen3moe and gpt-oss");
}

// A GGUF names its architecture and whether it has experts only, so families written as the same
// one must load alike.
TEST(ArchFamily, FamiliesSharingAGgufArchitectureConvertAlike) {
  for (const FamilyDescription* d : arch::families()) {
    const FamilyDescription* read =
        arch::family_of_gguf_architecture(d->gguf_architecture, d->mixture_of_experts);
    SCOPED_TRACE(std::string(d->name) + " read as " + std::string(read->name));
    EXPECT_EQ(read->permutes_qk, d->permutes_qk);
    EXPECT_EQ(read->shifts_norms, d->shifts_norms);
    ASSERT_EQ(read->layer_tensors.size(), d->layer_tensors.size());
    for (size_t i = 0; i < d->layer_tensors.size(); ++i)
      EXPECT_EQ(read->layer_tensors[i].data(), d->layer_tensors[i].data());
  }
}

// Each name of a layer tensor maps to one name on the other side.
TEST(ArchFamily, LayerTensorNamesAreUniqueOnBothSides) {
  for (const FamilyDescription* d : arch::families()) {
    SCOPED_TRACE(std::string(d->name));
    std::set<std::string_view> gguf, hf;
    for (arch::TensorNameGroup group : d->layer_tensors)
      for (const arch::TensorNamePair& pair : group) {
        EXPECT_TRUE(gguf.insert(pair.gguf).second) << pair.gguf;
        EXPECT_TRUE(hf.insert(pair.hf).second) << pair.hf;
      }
  }
}

TEST(ArchFamily, RulesAreConsistent) {
  for (const FamilyDescription* d : arch::families()) {
    SCOPED_TRACE(std::string(d->name));
    EXPECT_EQ(d->window == arch::SlidingWindow::pattern, d->sliding_period > 0);
    EXPECT_TRUE(nlohmann::json::parse(d->written_constants).is_object());
    if (!d->config_defaults.empty()) {
      EXPECT_TRUE(nlohmann::json::parse(d->config_defaults).is_object());
    }
    EXPECT_EQ(d->wrapper_model_type.empty(), d->wrapper_weight_prefixes.empty());
    for (const arch::Preset& p : d->presets) {  // what a preset sets, its family can say
      EXPECT_TRUE(p.rope_factor == 0 || !d->published.rope_scaling.empty()) << p.size;
      EXPECT_TRUE(p.sliding_window == 0 || d->window != arch::SlidingWindow::none) << p.size;
    }
  }
  std::set<Family> listed;
  for (const FamilyDescription* d : arch::preset_families()) {
    EXPECT_FALSE(d->presets.empty()) << d->name;
    EXPECT_TRUE(listed.insert(d->family).second) << d->name;
  }
  for (const FamilyDescription* d : arch::families())
    EXPECT_EQ(listed.count(d->family), d->presets.empty() ? 0u : 1u) << d->name;
}

}  // namespace
}  // namespace vktrain

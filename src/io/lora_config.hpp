#pragma once
// A LoRA adapter's settings as PEFT's LoraConfig names them (adapter_config.json), and the
// linear projections it may target in the llama, mistral, qwen2, qwen3 and gemma3 families.
// The model layer builds the adapter's parameters from them (model/layout.hpp).
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace vktrain::io {

// The module names PEFT uses for the projections, attention first.
inline constexpr const char* kLinearModules[] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
// A mixture of experts' fused weights an adapter may target, as LoraConfig::targets names them;
// PEFT's target_parameters "mlp.experts.gate_up_proj" and "mlp.experts.down_proj".
inline constexpr const char* kExpertTargets[] = {"experts.gate_up_proj", "experts.down_proj"};
inline constexpr const char* kExpertTargetPrefix = "mlp.";  // PEFT's path = prefix + target

struct LoraConfig {
  int64_t rank = 0;                  // r; 0: no adapter
  double alpha = 16;                 // lora_alpha
  bool rslora = false;               // use_rslora
  float dropout = 0;                 // lora_dropout
  // target_modules, from kLinearModules, and target_parameters, from kExpertTargets
  std::vector<std::string> targets;
  // The adapter's output scale: alpha / r, or alpha / sqrt(r) with rsLoRA.
  double scale() const { return rslora ? alpha / std::sqrt(double(rank)) : alpha / double(rank); }
};

}  // namespace vktrain::io

#pragma once
// PEFT LoRA adapters (DESIGN.md decision 9): a directory with adapter_config.json and
// adapter_model.safetensors, as `peft` 0.21 saves them and `PeftModel.from_pretrained` loads them.
//   adapter_config.json: LoraConfig's fields, keys sorted, indent 2; we write every field peft
//     0.21.2 writes, the features vktrain does not implement at their "off" values.
//   adapter_model.safetensors: "base_model.model." + our parameter name, e.g.
//     base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight [R, in] and ...lora_B.weight
//     [out, R]; peft drops the adapter name (".default") when saving and puts it back on loading.
//     Metadata {"format": "pt"}, as peft's save.
// Reading accepts keys with or without ".default", target_modules as a list of module names or
// as a string ("all-linear", or a regex: then the targets are the modules that have weights),
// and F32, F16 or BF16 weights. Adapters whose forward pass differs from plain LoRA (DoRA,
// per-module ranks or alphas, layer subsets, bias training, ...) are refused with one error naming
// the file and the field. Whether the weights fit a model (every target in every layer, shapes)
// is for the caller to check against model::lora_parameters.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "io/lora_config.hpp"

namespace vktrain::io {

struct PeftAdapter {
  LoraConfig lora;
  std::string base_model;  // base_model_name_or_path
  // By our parameter name ("model.layers.0.self_attn.q_proj.lora_A.weight"), row-major.
  std::map<std::string, std::vector<float>> weights;
  std::map<std::string, std::vector<int64_t>> shapes;  // same keys
};

inline constexpr const char* kPeftConfigFile = "adapter_config.json";
inline constexpr const char* kPeftWeightsFile = "adapter_model.safetensors";

// Writes both files into the existing directory `dir` (a checkpoint being assembled, say).
// dtype: "F32", "BF16" or "F16".
void write_peft_files(const std::string& dir, const PeftAdapter& adapter,
                      std::string_view dtype = "F32");
// The adapter as the directory `dir`, created atomically (io::AtomicDirectory): an existing
// adapter there is replaced only once the new one is complete.
void write_peft_adapter(const std::string& dir, const PeftAdapter& adapter,
                        std::string_view dtype = "F32");

PeftAdapter read_peft_adapter(const std::string& dir);

}  // namespace vktrain::io

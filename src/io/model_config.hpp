#pragma once
// arch::ModelConfig read from a Hugging Face config.json (DESIGN.md "Architectures"), by the
// family's description (arch/family.hpp). Both config styles are understood: rope_theta /
// rope_scaling (transformers 4.x) and rope_parameters (transformers 5.x, per layer type for
// Gemma-3), and Gemma3ForConditionalGeneration's text_config. An unknown architecture or a
// missing field is one error naming the file and the field.
#include <cstdint>
#include <string>
#include <string_view>

#include "arch/model_config.hpp"

namespace vktrain::io {

// ModelConfig lives in arch/ (below io/); io's users keep reaching it as io::ModelConfig.
using arch::Family;
using arch::ModelConfig;
using arch::MoeConfig;
using arch::RopeScaling;
using arch::causal_lm_architecture;
using arch::family_config;
using arch::family_name;

// The sizes vktrain accepts from config.json or GGUF metadata. Every released model of the
// families fits with room to spare, and so every product of them (parameter bytes, optimizer
// state, one vector per layer) stays far from int64's end.
namespace limits {
constexpr int64_t kVocab = int64_t(1) << 22;         // Gemma-3: 262144
constexpr int64_t kHidden = int64_t(1) << 16;        // Llama-3.1-405B: 16384
constexpr int64_t kIntermediate = int64_t(1) << 18;  // Llama-3.1-405B: 53248
constexpr int64_t kLayers = 1024;                    // Llama-3.1-405B: 126
constexpr int64_t kHeads = 1024;                     // Llama-3.1-405B: 128
constexpr int64_t kHeadDim = 1024;                   // Gemma-3: 256
constexpr int64_t kExperts = 4096;                   // Qwen3-30B-A3B: 128
constexpr int64_t kPositions = int64_t(1) << 30;     // context lengths and windows
constexpr int64_t kParameters = int64_t(1) << 42;    // 4.4T
constexpr double kRopeTheta = 1e12;                  // real ones: 1e4 to 1e8
constexpr double kRopeFactor = 1e6;                  // real ones: up to 64
}  // namespace limits

// The parameter count the sizes imply (embeddings, attention, FFN); fails naming `source` when
// it passes limits::kParameters, which no model that fits a machine does.
int64_t checked_parameter_count(const ModelConfig& c, const std::string& source,
                                const char* format);

ModelConfig read_model_config(const std::string& config_json_path);
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);

}  // namespace vktrain::io

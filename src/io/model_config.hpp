#pragma once
// One model configuration for every supported family, read from a Hugging Face config.json
// (DESIGN.md "Architectures"). Both config styles are understood: rope_theta / rope_scaling
// (transformers 4.x) and rope_parameters (transformers 5.x, per layer type for Gemma-3), and
// Gemma3ForConditionalGeneration's text_config. An unknown architecture or a missing field is
// one error naming the file and the field.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vktrain::io {

enum class Family { llama, mistral, qwen2, qwen3, gemma3 };
std::string_view family_name(Family f);

struct RopeScaling {
  std::string type = "default";  // "default", "linear", "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  Family family = Family::llama;
  std::string architecture;  // e.g. "Qwen3ForCausalLM"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // C
  int64_t intermediate_size = 0;  // FFN width
  int64_t num_layers = 0;         // L
  int64_t num_heads = 0;          // query heads
  int64_t num_kv_heads = 0;       // key/value heads (GQA)
  int64_t head_dim = 0;           // D
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;        // global (full-attention) layers
  double rope_local_theta = 10000.0;  // sliding-window layers (Gemma-3)
  RopeScaling rope_scaling;           // global layers
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2)
  bool qk_norm = false;         // per-head RMSNorm of q and k before RoPE (Qwen3, Gemma-3)
  bool norm_plus_one = false;   // RMSNorm scales by (1 + w) (Gemma)
  bool sandwich_norms = false;  // norms before and after attention and FFN (Gemma-3)
  bool embed_scale = false;     // embeddings times sqrt(hidden_size) (Gemma)
  std::string activation = "silu";  // "silu" (SwiGLU) or "gelu_pytorch_tanh" (GEGLU)
  double query_pre_attn_scalar = 0;  // attention scale 1/sqrt(this); 0: head_dim
  std::optional<int64_t> sliding_window;
  std::vector<bool> sliding_layers;  // per layer: true = sliding-window attention
  // Where the text model's weights live: "model." or, for Gemma-3 multimodal checkpoints,
  // "language_model.model." or "model.language_model." (the loader tries each in order).
  std::vector<std::string> weight_prefixes = {"model."};
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  double attention_scale() const;  // the softmax scale of attention scores
};

// A config of the family with its switches (DESIGN.md's table: biases, q/k norms, Gemma's norms,
// embedding scale and activation) and the family's causal-LM class as architecture; every size
// is left at zero for the caller.
ModelConfig family_config(Family family);
// The transformers class of a text model of the family: "Qwen3ForCausalLM", ...
std::string_view causal_lm_architecture(Family family);

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

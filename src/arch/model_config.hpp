#pragma once
// One model configuration for every supported family (DESIGN.md "Architectures"): the sizes and
// the switches the one Transformer reads. io/ fills it from config.json or GGUF metadata; what
// each family means lives in its description (arch/family.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vktrain::arch {

enum class Family { llama, mistral, qwen2, qwen3, gemma3, qwen3_moe, mixtral, gpt_oss };

struct RopeScaling {
  std::string type = "default";  // "default", "linear", "llama3", "yarn"
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3, yarn
  double beta_fast = 32, beta_slow = 1;  // yarn: the rotations that bound its ramp
  bool truncate = true;                  // yarn: the ramp's bounds rounded to whole dimensions
  double attention_factor = 0;           // yarn: cos and sin scaled by it; 0: 0.1 ln(factor) + 1
};

// The mixture-of-experts feed-forward blocks of a family that has them (qwen3_moe, mixtral), as
// its config.json names them; experts == 0: every layer is a dense MLP. A layer is sparse unless it
// is in dense_layers or off the sparse step (transformers: (l + 1) % decoder_sparse_step == 0);
// a dense layer is an MLP of intermediate_size.
struct MoeConfig {
  int64_t experts = 0;               // E (num_experts)
  int64_t experts_per_token = 0;     // k (num_experts_per_tok)
  int64_t intermediate_size = 0;     // F of one expert (moe_intermediate_size)
  bool normalize_topk = false;       // norm_topk_prob: the k weights divided by their sum
  double aux_loss_coef = 0.001;      // router_aux_loss_coef
  double swiglu_alpha = 1.702;       // gpt-oss's clamped SwiGLU (ops/moe_swiglu.hpp): its gain
  double swiglu_limit = 0;           // and clamp; 0: plain SwiGLU
  bool aux_loss = false;             // output_router_logits: the training loss adds the
                                     // load-balancing loss times aux_loss_coef
  int64_t sparse_step = 1;           // decoder_sparse_step
  std::vector<int64_t> dense_layers;  // mlp_only_layers
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
  bool attention_sinks = false;     // a learned logit per query head in each softmax (gpt-oss)
  bool output_bias = false;         // o_proj's bias beside the q/k/v ones (gpt-oss)
  double query_pre_attn_scalar = 0;  // attention scale 1/sqrt(this); 0: head_dim
  std::optional<int64_t> sliding_window;
  std::vector<bool> sliding_layers;  // per layer: true = sliding-window attention
  // Where the text model's weights live: "model." or, for Gemma-3 multimodal checkpoints,
  // "language_model.model." or "model.language_model." (the loader tries each in order).
  std::vector<std::string> weight_prefixes = {"model."};
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  MoeConfig moe;

  double attention_scale() const;  // the softmax scale of attention scores
  // Whether layer `layer`'s feed-forward block is a mixture of experts (MoeConfig's rule).
  bool moe_layer(int64_t layer) const;
  bool any_moe_layer() const;
  bool any_dense_layer() const;
  // Whether training adds the routers' load-balancing loss (output_router_logits and at least
  // one MoE layer): its statistics, token mask and memory exist exactly then.
  bool router_loss() const { return moe.aux_loss && any_moe_layer(); }
};

std::string_view family_name(Family family);
// The transformers class of a text model of the family: "Qwen3ForCausalLM", ...
std::string_view causal_lm_architecture(Family family);
// A config of the family with its switches (DESIGN.md's table: biases, q/k norms, Gemma's norms,
// embedding scale and activation) and the family's causal-LM class as architecture; every size
// is left at zero for the caller.
ModelConfig family_config(Family family);

}  // namespace vktrain::arch

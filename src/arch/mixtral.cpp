// Mixtral: Mistral's attention (a sliding window over every layer when its config names one)
// with a mixture-of-experts block in every layer: a router [E, C], softmax over the E experts,
// the top k (num_experts_per_tok, 2) renormalised to sum to 1, SwiGLU experts of the model's
// intermediate_size. The load-balancing loss joins the training loss only where
// output_router_logits is set, as MixtralForCausalLM has it. The hub's checkpoints name the
// block block_sparse_moe, its experts' gate, down and up w1, w2 and w3; transformers 5 renames
// them on load to the fused layout the device keeps. llama.cpp writes it as the llama
// architecture with expert_count, the experts' F as feed_forward_length.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"mixtral"};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kPostAttentionIsFfnNorm,
                                             kMoeExperts};

// transformers' MixtralConfig defaults, for checkpoints that leave fields out; not its token ids
// (1 and 2), which a written config's null must be able to clear.
constexpr std::string_view kConfigDefaults = R"({
  "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
  "hidden_act": "silu", "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
  "rope_theta": 1000000.0, "tie_word_embeddings": false, "num_local_experts": 8,
  "num_experts_per_tok": 2, "output_router_logits": false, "router_aux_loss_coef": 0.001,
  "router_jitter_noise": 0.0})";

constexpr MoeNames kExperts = {
    .expert_size_key = "",
    .sparse_layer_keys = false,
    .experts_key = "num_local_experts",
    .router = "block_sparse_moe.gate.weight",
    .experts_prefix = "block_sparse_moe.experts.",
    .gate = "w1.weight",
    .up = "w3.weight",
    .down = "w2.weight",
    .gguf_expert_size_key = "",
};

// Mixtral-8x7B-v0.1 (its config.json: 8 experts of which 2 per token, router_aux_loss_coef
// 0.02, no sliding window), and a tiny one of 8 experts of F 64, 2 per token, with
// transformers' coefficient (GGUF keeps none, so its files read back with that one).
constexpr Preset kPresets[] = {
    {"8x7B", 32000, 4096, 14336, 32, 32, 8, 128, 32768, false, 0, 0, {8, 2, 14336, true, 0.02}},
    {"tiny", 32000, 128, 64, 4, 4, 2, 32, 2048, true, 0, 0, {8, 2, 64, true}},
};

}  // namespace

extern const FamilyDescription kMixtral;
const FamilyDescription kMixtral = {
    .family = Family::mixtral,
    .name = "mixtral",
    .model_types = kModelTypes,
    .written_model_type = "mixtral",
    .architecture = "MixtralForCausalLM",
    .config_defaults = kConfigDefaults,
    .mixture_of_experts = true,
    .experts = kExperts,
    .window = SlidingWindow::every_layer,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "llama",
    .permutes_qk = true,
    .presets = kPresets,
    .published = {.rms_norm_eps = 1e-5, .bos_token_id = 1, .eos_token_id = 2},  // <s>, </s>
};

}  // namespace vktrain::arch

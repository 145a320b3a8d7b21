// Qwen3-MoE: qwen3's attention (q/k norms, explicit head_dim) with a mixture-of-experts
// feed-forward block in every layer on the sparse step and not in mlp_only_layers: a router
// [E, C], softmax over the E experts, the top k (renormalised where norm_topk_prob), SwiGLU
// experts of moe_intermediate_size; the other layers are qwen3's dense MLP. The load-balancing
// loss joins the training loss only where output_router_logits is set, as
// Qwen3MoeForCausalLM has it.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"qwen3_moe"};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kPostAttentionIsFfnNorm, kQkNorm,
                                             kMoeExperts};

// transformers 5.17's Qwen3MoeConfig defaults, for checkpoints that leave fields out. It names
// the expert count num_local_experts (older checkpoints: num_experts, which the reader prefers
// when the file has it); a default under num_experts would override a 5.x file's count.
constexpr std::string_view kConfigDefaults = R"({
  "vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
  "num_hidden_layers": 24, "num_attention_heads": 32, "num_key_value_heads": 4,
  "hidden_act": "silu", "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
  "tie_word_embeddings": false, "attention_bias": false, "use_sliding_window": false,
  "decoder_sparse_step": 1, "moe_intermediate_size": 768, "num_experts_per_tok": 8,
  "num_local_experts": 128, "norm_topk_prob": false, "output_router_logits": false,
  "router_aux_loss_coef": 0.001, "mlp_only_layers": []})";

// Qwen3-30B-A3B and Qwen3-235B-A22B (their config.json: 48 and 94 layers, 128 experts of which
// 8 per token, norm_topk_prob true), and a tiny one of 8 experts, 2 per token.
constexpr Preset kPresets[] = {
    {"30B-A3B", 151936, 2048, 6144, 48, 32, 4, 128, 40960, false, 0, 0, {128, 8, 768, true}},
    {"235B-A22B", 151936, 4096, 12288, 94, 64, 4, 128, 40960, false, 0, 0, {128, 8, 1536, true}},
    {"tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0, {8, 2, 64, true}},
};

}  // namespace

extern const FamilyDescription kQwen3Moe;
const FamilyDescription kQwen3Moe = {
    .family = Family::qwen3_moe,
    .name = "qwen3_moe",
    .model_types = kModelTypes,
    .written_model_type = "qwen3_moe",
    .architecture = "Qwen3MoeForCausalLM",
    .config_defaults = kConfigDefaults,
    .qk_norm = true,
    .mixture_of_experts = true,
    .window = SlidingWindow::flagged,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "qwen3moe",
    .gguf_pre_tokenizer = "qwen2",
    .presets = kPresets,
    .published = {.bos_token_id = 151643, .eos_token_id = 151645},  // <|endoftext|>, <|im_end|>
};

}  // namespace vktrain::arch

// Gemma 3 (text): RMSNorm by (1 + w), sandwich norms around attention and the FFN, GELU-tanh
// GEGLU, embeddings × sqrt(C), q/k norms, attention scaled by query_pre_attn_scalar, 5 sliding
// layers : 1 global with their own RoPE base. Multimodal checkpoints (model_type "gemma3") hold
// the text model in text_config and its weights under a language-model prefix. llama.cpp stores
// every norm weight as 1 + w.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"gemma3", "gemma3_text"};
constexpr std::string_view kWrapperWeightPrefixes[] = {"language_model.model.",
                                                       "model.language_model.", "model."};

// Gemma3TextConfig's defaults: multimodal Gemma-3 checkpoints leave most of text_config to them.
constexpr std::string_view kConfigDefaults = R"({
  "vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
  "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
  "head_dim": 256, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
  "rope_local_base_freq": 10000.0, "query_pre_attn_scalar": 256,
  "sliding_window": 4096, "max_position_embeddings": 131072,
  "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true})";

// The sandwich norms: one before and one after attention and the feed-forward block.
constexpr TensorNamePair kSandwichNorms[] = {
    {"post_attention_norm.weight", hf::kPostAttentionNorm},
    {"ffn_norm.weight", hf::kPreFeedforwardNorm},
    {"post_ffw_norm.weight", hf::kPostFeedforwardNorm},
};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kQkNorm, kSandwichNorms};

// llama.cpp's rule (GGUF does not store the scalar): head_dim, and C / H for the 27B model
// (62 layers). Every published Gemma-3 matches it.
double query_pre_attn_scalar(const ModelConfig& c) {
  return double(c.num_layers == 62 ? c.hidden_size / c.num_heads : c.head_dim);
}

// gemma-3-270m, -1b and the text model of -4b (linear rope scaling 8 on the global layers).
constexpr Preset kPresets[] = {
    {"270M", 262144, 640, 2048, 18, 4, 1, 256, 32768, true, 0, 512},
    {"1B", 262144, 1152, 6912, 26, 4, 1, 256, 32768, true, 0, 512},
    {"4B", 262208, 2560, 10240, 34, 8, 4, 256, 131072, true, 8, 1024},
    {"tiny", 32000, 128, 384, 6, 4, 2, 32, 2048, true, 0, 128},
};

}  // namespace

extern const FamilyDescription kGemma3;
const FamilyDescription kGemma3 = {
    .family = Family::gemma3,
    .name = "gemma3",
    .model_types = kModelTypes,
    .written_model_type = "gemma3_text",
    .architecture = "Gemma3ForCausalLM",
    .wrapper_model_type = "gemma3",
    .wrapper_weight_prefixes = kWrapperWeightPrefixes,
    .config_defaults = kConfigDefaults,
    .activation_key = "hidden_activation",
    .written_constants = R"({"attn_logit_softcapping": null, "final_logit_softcapping": null,
                             "use_bidirectional_attention": false})",
    .qk_norm = true,
    .gemma_norms = true,
    .activation = "gelu_pytorch_tanh",
    .query_pre_attn_scalar = query_pre_attn_scalar,
    .window = SlidingWindow::pattern,
    .sliding_period = 6,
    .local_rope = true,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "gemma3",
    .shifts_norms = true,
    .padding_idx = 0,  // <pad>
    .chat_format = "gemma",
    .presets = kPresets,
    .published = {.rope_scaling = "linear", .bos_token_id = 2, .eos_token_id = 1},  // <bos>, <eos>
};

}  // namespace vktrain::arch

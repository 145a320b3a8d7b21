// Llama 2 / 3.x (TinyLlama, SmolLM): RMSNorm, SwiGLU, RoPE with llama3 or linear scaling, GQA.
// llama.cpp's converter reorders the rows of Q and K to its interleaved RoPE pairs.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"llama"};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kPostAttentionIsFfnNorm};

// Llama-3.2-1B, Llama-3.2-3B, Llama-3.1-8B and Llama-3.1-70B, with their llama3 rope scaling.
constexpr Preset kPresets[] = {
    {"1B", 128256, 2048, 8192, 16, 32, 8, 64, 131072, true, 32, 0},
    {"3B", 128256, 3072, 8192, 28, 24, 8, 128, 131072, true, 32, 0},
    {"8B", 128256, 4096, 14336, 32, 32, 8, 128, 131072, false, 8, 0},
    {"70B", 128256, 8192, 28672, 80, 64, 8, 128, 131072, false, 8, 0},
    {"tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0},
};

}  // namespace

extern const FamilyDescription kLlama;
const FamilyDescription kLlama = {
    .family = Family::llama,
    .name = "llama",
    .model_types = kModelTypes,
    .written_model_type = "llama",
    .architecture = "LlamaForCausalLM",
    .written_constants = R"({"mlp_bias": false, "pretraining_tp": 1})",
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "llama",
    .permutes_qk = true,
    .chat_format = "llama3",
    .gguf_pre_tokenizer = "llama-bpe",
    .presets = kPresets,
    // <|begin_of_text|>, <|end_of_text|>; llama3 scaling with factors 1 and 4 over 8192
    .published = {.rms_norm_eps = 1e-5, .rope_theta = 500000, .rope_scaling = "llama3",
                  .bos_token_id = 128000, .eos_token_id = 128001},
};

}  // namespace vktrain::arch

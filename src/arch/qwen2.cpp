// Qwen2 / Qwen2.5: llama's layers with q/k/v biases; a sliding window only where the config sets
// use_sliding_window (max_window_layers, or layer_types, say which layers).
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"qwen2"};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kPostAttentionIsFfnNorm, kQkvBias};

// Qwen2.5-0.5B and -1.5B (the base models).
constexpr Preset kPresets[] = {
    {"0.5B", 151936, 896, 4864, 24, 14, 2, 64, 32768, true, 0, 0},
    {"1.5B", 151936, 1536, 8960, 28, 12, 2, 128, 131072, true, 0, 0},
    {"tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0},
};

}  // namespace

extern const FamilyDescription kQwen2;
const FamilyDescription kQwen2 = {
    .family = Family::qwen2,
    .name = "qwen2",
    .model_types = kModelTypes,
    .written_model_type = "qwen2",
    .architecture = "Qwen2ForCausalLM",
    .attention_bias = true,
    .window = SlidingWindow::flagged,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "qwen2",
    .gguf_pre_tokenizer = "qwen2",
    .presets = kPresets,
    .published = {.bos_token_id = 151643, .eos_token_id = 151643},  // <|endoftext|>
};

}  // namespace vktrain::arch

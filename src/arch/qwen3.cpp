// Qwen3: llama's layers with a per-head RMSNorm of q and k before RoPE and an explicit head_dim;
// sliding windows as qwen2.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"qwen3"};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kPostAttentionIsFfnNorm, kQkNorm};

// Qwen3-0.6B, -1.7B, -4B and -8B.
constexpr Preset kPresets[] = {
    {"0.6B", 151936, 1024, 3072, 28, 16, 8, 128, 40960, true, 0, 0},
    {"1.7B", 151936, 2048, 6144, 28, 16, 8, 128, 40960, true, 0, 0},
    {"4B", 151936, 2560, 9728, 36, 32, 8, 128, 40960, true, 0, 0},
    {"8B", 151936, 4096, 12288, 36, 32, 8, 128, 40960, false, 0, 0},
    {"tiny", 32000, 128, 384, 4, 4, 2, 32, 2048, true, 0, 0},
};

}  // namespace

extern const FamilyDescription kQwen3;
const FamilyDescription kQwen3 = {
    .family = Family::qwen3,
    .name = "qwen3",
    .model_types = kModelTypes,
    .written_model_type = "qwen3",
    .architecture = "Qwen3ForCausalLM",
    .qk_norm = true,
    .window = SlidingWindow::flagged,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "qwen3",
    .gguf_pre_tokenizer = "qwen2",
    .presets = kPresets,
    .published = {.bos_token_id = 151643, .eos_token_id = 151645},  // <|endoftext|>, <|im_end|>
};

}  // namespace vktrain::arch

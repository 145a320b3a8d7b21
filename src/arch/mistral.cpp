// Mistral: llama's layers, and a sliding window over every layer when its config names one.
// llama.cpp writes it as the llama architecture (Q/K rows permuted alike), so a GGUF of it loads
// as llama. Its vocabulary is SentencePiece's, which llama.cpp's converter writes, not vktrain.
#include "arch/tensor_names.hpp"

namespace vktrain::arch {
namespace {

constexpr std::string_view kModelTypes[] = {"mistral"};
constexpr TensorNameGroup kLayerTensors[] = {kAttentionAndMlp, kPostAttentionIsFfnNorm};

}  // namespace

extern const FamilyDescription kMistral;
const FamilyDescription kMistral = {
    .family = Family::mistral,
    .name = "mistral",
    .model_types = kModelTypes,
    .written_model_type = "mistral",
    .architecture = "MistralForCausalLM",
    .window = SlidingWindow::every_layer,
    .layer_tensors = kLayerTensors,
    .gguf_architecture = "llama",
    .permutes_qk = true,
};

}  // namespace vktrain::arch

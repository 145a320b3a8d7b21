#pragma once
// Tiny models of every family for the model and trainer tests: configs parsed from
// transformers-style JSON (so the parser's switches are exercised), random weights, and a
// batch with ignored targets and two packed documents. Sizes are not multiples of any tile.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/batch.hpp"
#include "io/model_config.hpp"
#include "io/quant.hpp"
#include "model/layout.hpp"
#include "model/transformer.hpp"

namespace vktrain::test {

// "llama" (llama3 rope scaling), "mistral" (sliding window on every layer), "qwen2" (q/k/v
// biases), "qwen3" (qk-norm, tied), "gemma3" (sandwich norms, one sliding and one full layer,
// window 5 < T); also "qwen3_moe" (layer 0 of 5 experts of F 24, 2 per token; layer 1 dense),
// which reference_moe_test.cpp checks against the CPU reference model, and "gpt_oss" (sinks,
// q/k/v/o and expert biases, window 4 on layer 0, YaRN factor 4, 5 experts of F 80, 2 per
// token, SwiGLU clamped at 1, the router loss at 0.1).
io::ModelConfig tiny_config(const std::string& family);
inline const std::vector<std::string> kTinyFamilies = {"llama", "mistral", "qwen2", "qwen3",
                                                      "gemma3"};

// tiny_config with every matrix row (the in-features: hidden, Hq x D, intermediate) 256
// values long, a whole number of every block type's blocks (a quantized base); the other
// dimensions stay off the tiles.
io::ModelConfig tiny_block_config(const std::string& family);

// tiny_block_config("qwen3_moe") with experts of F 256 (down's rows whole blocks of every type)
// in both layers (llama.cpp's qwen3moe has no dense layers), and the GGUF file at `path` of random_weights(seed) for it: the experts (GGUF's
// ffn_gate_exps, ffn_up_exps, ffn_down_exps) in `experts`, every other matrix Q8_0 but the router
// (F32, as llama-quantize leaves ffn_gate_inp). Returns the weights, by parameter name.
io::ModelConfig tiny_moe_block_config();
std::map<std::string, std::vector<float>> write_moe_gguf(const io::ModelConfig& config,
                                                         io::GgmlType experts, uint32_t seed,
                                                         const std::string& path);

// LoRA rank 3 (alpha 6) on every linear layer: the tiny models' adapter.
model::ModelSetup tiny_lora_setup();
// The base parameters of `config` and those of adapter `lora`.
std::vector<model::ParameterSpec> all_parameters(const io::ModelConfig& config,
                                                 const model::LoraConfig& lora);

// Random values (never zero) for every parameter in `specs`, by name; norm weights near 1.
std::map<std::string, std::vector<float>> random_weights(const std::vector<model::ParameterSpec>& specs,
                                                         uint32_t seed);

// A model of `config` on the tests' context with random_weights(seed) in every parameter, the
// adapter's included.
std::unique_ptr<model::Transformer> random_model(const io::ModelConfig& config,
                                                 const model::ModelSetup& setup, uint32_t seed);

// B = 2, T = 11: row 0 one document with two ignored targets, row 1 two packed documents
// (positions restart at 0) whose last targets are ignored.
data::HostBatch tiny_batch(const io::ModelConfig& config, uint32_t seed);

}  // namespace vktrain::test

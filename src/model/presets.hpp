#pragma once
// Model configs by family and size, for `vktrain init` and for benchmarks on real shapes, from the
// presets in each family's description (arch/<family>.cpp). The published sizes carry the
// numbers of the named checkpoints' config.json:
//   qwen3   0.6B 1.7B 4B 8B    Qwen3-*
//   qwen2   0.5B 1.5B          Qwen2.5-* (the base models)
//   llama   1B 3B 8B           Llama-3.2-1B, Llama-3.2-3B, Llama-3.1-8B, with their llama3 rope
//                              scaling (factor 32, 32 and 8)
//   gemma3  270M 1B 4B         gemma-3-*; 4B is its text model (linear rope scaling 8 on the
//                              global layers)
//   qwen3_moe 30B-A3B 235B-A22B  Qwen3-30B-A3B, Qwen3-235B-A22B (128 experts, 8 per token)
//   mixtral 8x7B               Mixtral-8x7B-v0.1 (8 experts, 2 per token)
//   gpt_oss 20b 120b           gpt-oss-20b, gpt-oss-120b (32 and 128 experts, 4 per token, YaRN)
// and `tiny` in every family, for pre-training demos and tests: C 128, F 384, 4 layers (gemma3:
// 6, so that its 5 sliding : 1 global pattern has a global layer), 4 query and 2 kv heads of 32,
// a context of 2048, tied embeddings, the family's own switches and rope bases without scaling
// (gemma3: sliding window 128; qwen3_moe: every layer 8 experts of F 64, 2 per token; mixtral
// and gpt_oss the same experts, their F 64; gpt_oss every other layer in a window of 128). Its
// vocabulary is 32000 until the caller sets the tokenizer's; the parameters are then about 0.8 M
// (gemma3 1.2 M, qwen3_moe, mixtral and gpt_oss 1 M) + 128 x vocab: 4.9 M at 32000. A tiny config names no bos/eos ids, as it has no tokenizer of its own.
// Family and size match without regard to case ("0.6b").
#include <string>
#include <string_view>

#include "io/model_config.hpp"

namespace vktrain::model {

// An unknown family or size fails listing every preset.
io::ModelConfig model_preset(std::string_view family, std::string_view size);

}  // namespace vktrain::model

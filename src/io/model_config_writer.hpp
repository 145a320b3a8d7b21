#pragma once
// config.json for a ModelConfig as transformers 5 writes a text model's config (compare
// tests/fixtures/configs/v5/): architectures, model_type, the sizes, rope_parameters (one per
// layer type for Gemma-3), layer_types (Qwen, Gemma-3), sliding_window, attention_bias,
// tie_word_embeddings, bos/eos ids, and the weights' dtype as both `dtype` (transformers 5) and
// `torch_dtype` (4.x). parse_model_config reads it back to the same fields. A Gemma-3 config is
// written as the text model alone (Gemma3ForCausalLM, model_type gemma3_text), whatever
// checkpoint it came from; the architecture is always the family's causal-LM class. Sliding
// layers a family's config cannot express (any in llama, some but not all in mistral) are an
// error. Written through a temporary file and a rename.
#include <string>

#include "base/dtype.hpp"
#include "io/model_config.hpp"

namespace vktrain::io {

void write_model_config(const std::string& path, const ModelConfig& config,
                        DType dtype = DType::bf16);

}  // namespace vktrain::io

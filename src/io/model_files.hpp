#pragma once
// What writing a Hugging Face model directory needs beyond config.json and the weights: the
// safetensors name of a float type, and the tokenizer files copied over from another directory.
#include <string>

#include "base/dtype.hpp"

namespace vktrain::io {

// "F32", "F16" or "BF16".
std::string safetensors_dtype(DType t);

// Copies those of tokenizer.json, tokenizer_config.json, special_tokens_map.json,
// chat_template.jinja, tokenizer.model and generation_config.json that `from` holds into `to`;
// fails "[format] cannot copy ..." naming the file.
void copy_tokenizer_files(const std::string& from, const std::string& to, const char* format);

}  // namespace vktrain::io

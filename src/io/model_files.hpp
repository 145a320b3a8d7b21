#pragma once
// The files of a Hugging Face model directory besides config.json: the weights as one
// model.safetensors in one float dtype, and the tokenizer files, copied from another directory.
#include <functional>
#include <string>
#include <vector>

#include "base/dtype.hpp"

namespace vktrain::io {

inline constexpr const char* kTokenizerFiles[] = {
    "tokenizer.json",      "tokenizer_config.json", "special_tokens_map.json",
    "chat_template.jinja", "tokenizer.model",       "generation_config.json"};

std::string safetensors_dtype_name(DType dtype);  // "F32", "F16", "BF16"

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;
};
// Writes `path` atomically, rounding each tensor's values (asked for one tensor at a time, in
// order) to `dtype`. Returns the number of values written.
int64_t write_model_safetensors(const std::string& path, const std::vector<NamedShape>& tensors,
                                const std::function<std::vector<float>(size_t)>& values,
                                DType dtype);

// Copies those of kTokenizerFiles that `from` has into `to`; `format` prefixes errors.
void copy_tokenizer_files(const std::string& from, const std::string& to, const char* format);

}  // namespace vktrain::io

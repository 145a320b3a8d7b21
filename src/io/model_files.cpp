#include "io/model_files.hpp"

#include <filesystem>

#include "base/error.hpp"

namespace vktrain::io {

std::string safetensors_dtype(DType t) {
  return t == DType::f32 ? "F32" : t == DType::f16 ? "F16" : "BF16";
}

void copy_tokenizer_files(const std::string& from, const std::string& to, const char* format) {
  namespace fs = std::filesystem;
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                           "chat_template.jinja", "tokenizer.model", "generation_config.json"}) {
    const fs::path source = fs::path(from) / name;
    std::error_code ec;
    if (fs::exists(source)) fs::copy_file(source, fs::path(to) / name, ec);
    if (ec) fail("[{}] cannot copy {}: {}", format, source.string(), ec.message());
  }
}

}  // namespace vktrain::io

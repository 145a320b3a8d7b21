#include "io/model_files.hpp"

#include <filesystem>

#include "base/error.hpp"
#include "io/safetensors.hpp"

namespace vktrain::io {

namespace fs = std::filesystem;

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    default: fail("[safetensors] {} is not a weight type", dtype_name(dtype));
  }
}

int64_t write_model_safetensors(const std::string& path, const std::vector<NamedShape>& tensors,
                                const std::function<std::vector<float>(size_t)>& values,
                                DType dtype) {
  std::vector<std::vector<std::byte>> data;  // kept alive until the file is written
  std::vector<SafetensorsTensor> entries;
  data.reserve(tensors.size());
  int64_t count = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::vector<float> v = values(i);
    count += int64_t(v.size());
    data.push_back(float_bytes(v, dtype));
    entries.push_back({tensors[i].name, safetensors_dtype_name(dtype), tensors[i].shape, data.back()});
  }
  // transformers refuses safetensors files without a "format" entry.
  write_safetensors(path, entries, {{"format", "pt"}});
  return count;
}

void copy_tokenizer_files(const std::string& from, const std::string& to, const char* format) {
  for (const char* name : kTokenizerFiles) {
    const fs::path source = fs::path(from) / name;
    std::error_code ec;
    if (fs::exists(source))
      fs::copy_file(source, fs::path(to) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) fail("[{}] cannot copy {}: {}", format, source.string(), ec.message());
  }
}

}  // namespace vktrain::io

#pragma once
// safetensors: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets} (plus an optional "__metadata__" of strings), then the data.
// The reader maps the file and validates the header as the format requires: the length fits the
// file, every dtype is known, shapes match byte counts, offsets lie inside the data section and
// the tensors cover it contiguously without overlap. Every error names the file and the field.
// The writer pads the header to 8 bytes and writes through a temporary file and a rename.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "io/file.hpp"

namespace vktrain::io {

struct SafetensorsEntry {
  std::string dtype;           // "F32", "BF16", "F16", "I64", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
};

size_t safetensors_dtype_size(const std::string& dtype);  // 0 when unknown

class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);
  SafetensorsReader(const SafetensorsReader&) = delete;
  SafetensorsReader& operator=(const SafetensorsReader&) = delete;

  const std::map<std::string, SafetensorsEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsEntry& entry(const std::string& name) const;  // throws naming file and tensor
  std::span<const std::byte> data(const std::string& name) const;

 private:
  std::string path_;
  MappedFile file_;
  size_t data_start_ = 0;
  std::map<std::string, SafetensorsEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct SafetensorsTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;
};

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace vktrain::io

#pragma once
// File plumbing every format shares: a read-only memory map, and writing through a temporary
// file that is renamed into place only when complete (DESIGN.md decision 11: nothing is ever
// half-written). `format` prefixes error messages, e.g. "gguf" -> "[gguf] cannot open ...".
#include <cstddef>
#include <fstream>
#include <functional>
#include <span>
#include <string>

namespace vktrain::io {

class MappedFile {
 public:
  MappedFile(const std::string& path, const char* format);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

// Calls write(out) on `path`.tmp, checks the stream, then renames it to `path`. On any error the
// temporary is removed and the error (naming the file) is thrown.
void write_file_atomically(const std::string& path, const char* format,
                           const std::function<void(std::ofstream&)>& write);

}  // namespace vktrain::io

#pragma once
// What every libFuzzer harness shares: the input as a file for readers that map a path, and the
// one rule that a parser may only fail with vktrain::Error (anything else escaping, a crash, a
// leak or a sanitizer report is a finding).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.hpp"

namespace vktrain::fuzz {

// `bytes` written to `name` in a folder of this process's own (so parallel jobs never share one);
// the same path each call, overwritten.
inline std::string input_file(const uint8_t* bytes, size_t size, const std::string& name) {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("vktrain-fuzz-" + std::to_string(getpid()));
    fs::create_directories(d);
    return d;
  }();
  const fs::path path = dir / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(bytes), std::streamsize(size));
  return path.string();
}

// Runs `parse`, accepting its vktrain::Error as the right answer to bad input.
template <typename Parse>
void expect_only_clear_errors(Parse&& parse) {
  try {
    parse();
  } catch (const vktrain::Error&) {
  }
}

}  // namespace vktrain::fuzz

// A safetensors file from arbitrary bytes: the header's validation, then every tensor's bytes
// read through the reader's own accessors.
#include "fuzz_input.hpp"
#include "io/safetensors.hpp"

static volatile uint8_t touched;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vktrain::fuzz::input_file(data, size, "model.safetensors");
  vktrain::fuzz::expect_only_clear_errors([&] {
    vktrain::io::SafetensorsReader reader(path);
    for (const auto& [name, entry] : reader.tensors()) {
      // The first and last byte of each tensor: the sanitizer sees a span past the mapping.
      auto bytes = reader.data(name);
      if (bytes.size() != entry.end - entry.begin) __builtin_trap();
      if (!bytes.empty()) touched ^= uint8_t(bytes.front()) ^ uint8_t(bytes.back());
    }
  });
  return 0;
}

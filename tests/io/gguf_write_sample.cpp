// Writes a GGUF file with every kind of metadata and three tensor types. Its bytes must equal
// tests/fixtures/gguf/sample.gguf, which Hugging Face's GGUF parser reads as we meant it
// (tests/fixtures/gguf/README.md).
#include <cmath>

#include "io/gguf.hpp"
#include "io/quant.hpp"

using namespace vktrain::io;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::vector<float> w(64 * 256);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * float(i)) * 0.5f;
  auto q8 = quantize(std::span<const float>(w), GgmlType::q8_0);
  auto q4k = quantize(std::span<const float>(w), GgmlType::q4_k);
  std::vector<float> f(10, 1.25f);
  std::map<std::string, GgufValue> metadata = {
      {"general.architecture", std::string("llama")},
      {"general.name", std::string("crosscheck \u00fc")},
      {"llama.block_count", uint32_t(2)},
      {"x.u64", uint64_t(1) << 40},
      {"x.i8", int8_t(-5)},
      {"x.f32", 0.5f},
      {"x.f64", 2.25},
      {"x.bool", true},
      {"tokenizer.ggml.tokens", gguf_array(std::vector<std::string>{"a", "b", "<s>"})},
      {"x.ints", gguf_array(std::vector<int32_t>{1, -2, 3})}};
  write_gguf(argv[1],
             {{"w.q8", GgmlType::q8_0, {256, 64}, std::as_bytes(std::span(q8))},
              {"w.q4k", GgmlType::q4_k, {256, 64}, std::as_bytes(std::span(q4k))},
              {"f", GgmlType::f32, {10}, std::as_bytes(std::span(f))}},
             metadata);
  return 0;
}

// JSONL training examples from arbitrary bytes: each line through the dataset's line parser.
#include <algorithm>
#include <string_view>

#include "data/examples.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t line = 1;
  for (size_t start = 0; start <= text.size(); ++line) {
    size_t end = std::min(text.find('\n', start), text.size());
    vktrain::fuzz::expect_only_clear_errors([&] {
      vktrain::data::parse_example(std::string(text.substr(start, end - start)), "fuzz.jsonl", line);
    });
    start = end + 1;
  }
  return 0;
}

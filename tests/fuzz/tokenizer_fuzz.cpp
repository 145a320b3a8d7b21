// A tokenizer.json from arbitrary bytes: the pipeline it builds (model, normalizer,
// pre-tokenizer, decoder, added tokens, post-processor), which then encodes and decodes a text.
#include "data/tokenizer.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vktrain::fuzz::input_file(data, size, "tokenizer.json");
  vktrain::fuzz::expect_only_clear_errors([&] {
    auto tokenizer = vktrain::data::Tokenizer::from_json_file(path);
    auto ids = tokenizer.encode("Hello,  world!\n<s> caf\xc3\xa9 \xf0\x9f\x98\x80 123", true);
    tokenizer.decode(ids);
    tokenizer.decode(ids, true);
  });
  return 0;
}

// A GGUF file from arbitrary bytes: the reader, the model config its metadata gives, and the
// tokenizer its vocabulary builds, which then encodes and decodes a fixed text.
#include "data/model_text.hpp"
#include "data/tokenizer.hpp"
#include "fuzz_input.hpp"
#include "io/gguf.hpp"
#include "io/gguf_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = vktrain::fuzz::input_file(data, size, "model.gguf");
  vktrain::fuzz::expect_only_clear_errors([&] {
    vktrain::io::GgufReader gguf(path);
    vktrain::fuzz::expect_only_clear_errors([&] { vktrain::io::model_config_from_gguf(gguf); });
    auto tokenizer = vktrain::data::Tokenizer::from_gguf_vocab(vktrain::data::read_gguf_vocab(gguf));
    auto ids = tokenizer.encode("Hello, world! <|im_end|> \xe2\x96\x81 12345", true);
    tokenizer.decode(ids);
  });
  return 0;
}

#include "support/converted_gguf.hpp"

#include <fmt/format.h>

#include "io/gguf_config.hpp"

namespace vktrain::test {

std::string ConvertedGguf::write(const std::string& path) const {
  io::GgufModelFile::write(path);
  return path;
}

io::ModelConfig ConvertedGguf::read(const TempDir& dir) const {
  io::GgufReader reader(write(dir.file("model.gguf")));
  return io::model_config_from_gguf(reader);
}

ConvertedGguf converted_gguf(const io::ModelConfig& c) {
  ConvertedGguf f{io::gguf_model_file(c)};
  std::vector<std::string> tokens;
  for (int64_t i = 0; i < c.vocab_size; ++i) tokens.push_back(fmt::format("t{}", i));
  f.metadata["tokenizer.ggml.model"] = "gpt2";
  f.metadata["tokenizer.ggml.tokens"] = io::gguf_array(tokens);
  if (!c.tie_word_embeddings)
    f.tensors.push_back({"output.weight", {uint64_t(c.hidden_size), uint64_t(c.vocab_size)},
                         std::vector<float>(size_t(c.hidden_size * c.vocab_size), 0.01f)});
  return f;
}

io::ModelConfig small_gguf_config(io::Family family, int64_t layers) {
  io::ModelConfig c = io::family_config(family);
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_layers = layers;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 256;
  c.sliding_layers.assign(size_t(layers), false);
  return c;
}

}  // namespace vktrain::test

#pragma once
// The text side of a model, from the run's model source (io/model_source.hpp: a Hugging Face
// directory or a GGUF file, told apart by the file's magic): its tokenizer (the
// directory's tokenizer.json, or the vocabulary in the GGUF's tokenizer.ggml.* keys) and its
// chat template (tokenizer_config.json's, the GGUF's tokenizer.chat_template, a file the user
// names, or a built-in format when the model has none).
#include <optional>
#include <string>

#include "data/chat_template.hpp"
#include "data/tokenizer.hpp"
#include "io/gguf.hpp"
#include "io/model_source.hpp"

namespace vktrain::data {

// The tokenizer.ggml.* keys of a GGUF file; errors name the file and the key.
GgufVocab read_gguf_vocab(const io::GgufReader& gguf);

Tokenizer load_tokenizer(const io::ModelSource& source);

struct ModelText {
  Tokenizer tokenizer;
  ChatTemplate chat_template;
};
// Tokenizer and chat template. `override_file`: a Jinja file given by the user
// (--chat-template), used when set.
ModelText load_model_text(const io::ModelSource& source,
                          const std::optional<std::string>& override_file = std::nullopt);

}  // namespace vktrain::data

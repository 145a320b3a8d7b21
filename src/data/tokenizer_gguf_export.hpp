#pragma once
// A model's vocabulary as the tokenizer.* metadata of a GGUF file, the way convert_hf_to_gguf.py
// writes it and read_gguf_vocab (model_text.hpp) reads it back:
//  - from a GGUF model: its tokenizer.* keys, as they are.
//  - from a Hugging Face directory with a byte-level BPE tokenizer.json (Qwen, Llama 3):
//    tokenizer.ggml.model "gpt2"; .pre by family ("qwen2" for qwen2/qwen3, "llama-bpe" for
//    llama: the converter's names for these tokenizers, which it finds by hashing their output);
//    .tokens one per embedding row (ids the tokenizer lacks as "[PAD<id>]"); .token_type
//    (1 normal, 3 control for special added tokens, 4 user-defined for other added ones, 5 for
//    the padding); .merges as "left right"; .add_bos_token / .add_eos_token where
//    tokenizer_config.json says; tokenizer.chat_template from tokenizer_config.json or
//    chat_template.jinja. bos/eos ids come from the config (io::gguf_model_file).
//  - a directory without tokenizer.json: nothing (the caller says so).
// SentencePiece tokenizers (byte_fallback: Gemma, Mistral) need tokenizer.model's scores, which
// vktrain does not read: one error saying what to do instead.
#include <map>
#include <string>

#include "io/gguf.hpp"
#include "io/model_config.hpp"

namespace vktrain::data {

std::map<std::string, io::GgufValue> gguf_tokenizer_metadata(const std::string& model_path,
                                                              const io::ModelConfig& config);

}  // namespace vktrain::data

#pragma once
// A model's vocabulary as the tokenizer.* metadata of a GGUF file, the way convert_hf_to_gguf.py
// writes it and read_gguf_vocab (model_text.hpp) reads it back:
//  - from a GGUF model: its tokenizer.* keys, as they are.
//  - from a Hugging Face directory with a BPE tokenizer.json, as convert_hf_to_gguf.py does:
//    byte-level (Qwen, Llama 3): tokenizer.ggml.model "gpt2"; .pre by family ("qwen2" for
//    qwen2/qwen3, "llama-bpe" for llama: the converter's names for these tokenizers, which it
//    finds by hashing their output); .merges as "left right".
//    SentencePiece with byte fallback (Gemma, Mistral, Llama 2): "llama", .pre "default",
//    .scores (tokenizer.json has none: a normal piece scores minus its id, see the .cpp),
//    .add_space_prefix as the tokenizer.json prepends "▁" or not, .unknown_token_id.
//    Both: .tokens one per embedding row (ids the tokenizer lacks as "[PAD<id>]"); .token_type
//    (1 normal, 2 unknown, 3 control for special added tokens and those the converter deems
//    special, 4 user-defined for other added ones, 5 for the padding, 6 byte); .padding_token_id,
//    .add_bos_token / .add_eos_token where tokenizer_config.json says; tokenizer.chat_template
//    from tokenizer_config.json or chat_template.jinja. bos/eos ids come from the config
//    (io::gguf_model_file).
//  - a directory without tokenizer.json: nothing (the caller says so).
#include <map>
#include <string>

#include "io/gguf.hpp"
#include "io/model_config.hpp"
#include "io/model_source.hpp"

namespace vktrain::data {

std::map<std::string, io::GgufValue> gguf_tokenizer_metadata(const io::ModelSource& source,
                                                              const io::ModelConfig& config);

}  // namespace vktrain::data

#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace vktrain::cli {

struct InitOptions {
  std::string family;                    // --family qwen3, qwen2, llama, gemma3
  std::string size;                      // --size 0.6B, ..., tiny (model/presets.hpp)
  std::string out;                       // --out DIR: must not exist or be empty
  uint64_t seed = 0;                     // --seed
  std::string dtype = "bf16";            // --dtype f32, bf16 or f16 of the written weights
  std::optional<std::string> tokenizer;  // --tokenizer DIR: copied, and sets the vocabulary
  std::optional<int64_t> vocab;          // --vocab N: the embedding rows, overriding the rest
};

// `vktrain init`: a new model of a named family and size, randomly initialised (model/init.hpp),
// written as a Hugging Face directory: config.json, model.safetensors and, with --tokenizer, its
// tokenizer.json, tokenizer_config.json, special_tokens_map.json and chat_template.jinja (those
// present). The vocabulary is the preset's, or with --tokenizer the ids the tokenizer can produce
// (its vocabulary and added tokens) rounded up to a multiple of 64 (whole GPU tiles, as nanoGPT
// pads GPT-2's 50257 to 50304), or --vocab N exactly (no fewer than the tokenizer's ids).
// bos/eos ids are the tokenizer's where it names them, else the preset's; ids outside the
// vocabulary are left out. The directory is built beside DIR as DIR.tmp and renamed to DIR only
// when complete. Prints one line: family, size, parameter count and path.
int run_init(const InitOptions& options);

}  // namespace vktrain::cli

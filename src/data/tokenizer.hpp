#pragma once
// Host-side tokenizers that give exactly the ids of Hugging Face `tokenizers`: BPE models,
// byte-level (Qwen, Llama-3, GPT-2) and SentencePiece-style with byte fallback (Gemma, Llama-2),
// read from a tokenizer.json or from the vocabulary inside a GGUF file. A Tokenizer is immutable
// once built, so one instance may encode from several threads. Errors name the file at fault:
// "[tokenizer] <file>: ...".
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vktrain::data {

// GgufVocab::token_types' values (llama.cpp's llama_token_type).
namespace gguf_token_type {
constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;
}

// The vocabulary inside a GGUF file (llama.cpp's tokenizer.ggml.* keys).
struct GgufVocab {
  std::string model;  // "gpt2": byte-level BPE; "llama": SentencePiece BPE
  std::string pre;    // tokenizer.ggml.pre: "qwen2", "llama-bpe", "default", ...
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> token_types;  // gguf_token_type's values
  std::vector<std::string> merges;   // "a b"
  std::optional<int32_t> bos, eos, unk, pad;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = true;  // "llama": a " " in front of text (llama.cpp's default)
};

struct TokenizerPipeline;

class Tokenizer {
 public:
  // tokenizer.json, plus tokenizer_config.json when present for the bos/eos/pad tokens.
  static Tokenizer from_directory(const std::string& dir);
  static Tokenizer from_json_file(const std::string& tokenizer_json);
  static Tokenizer from_gguf_vocab(const GgufVocab& vocab);

  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // add_special_tokens adds what the post-processor adds (Gemma's <bos>; nothing for Qwen).
  // Text that is not valid UTF-8 is read with each invalid sequence as U+FFFD (a "llama" GGUF
  // vocabulary takes the bytes as they are, as llama.cpp does).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // Ids outside the vocabulary are skipped, as in `tokenizers`.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  std::string piece(int32_t id) const;  // the token's text as stored in the vocabulary
  size_t vocab_size() const;            // including added tokens
  std::optional<int32_t> token_id(std::string_view piece) const;
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  bool is_special(int32_t id) const;

 private:
  explicit Tokenizer(std::unique_ptr<const TokenizerPipeline> pipeline);
  std::unique_ptr<const TokenizerPipeline> pipeline_;
};

}  // namespace vktrain::data

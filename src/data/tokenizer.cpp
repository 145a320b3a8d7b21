#include "data/tokenizer.hpp"

#include "base/error.hpp"
#include "data/tokenizer_pipeline.hpp"
#include "data/unicode.hpp"

namespace vktrain::data {

Tokenizer::Tokenizer(std::unique_ptr<const TokenizerPipeline> pipeline)
    : pipeline_(std::move(pipeline)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const auto& p = *pipeline_;
  if (p.spm) return p.spm->encode(text, add_special_tokens);
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = utf8_lossy(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = p.prefix;
  std::vector<PreToken> words;
  // Added tokens are cut out of the raw text first; only the text between them is normalized,
  // then cut again at added tokens that match normalized text, then split into words.
  const auto raws = p.gguf_specials ? p.gguf_specials->split(text) : p.added.split_raw(text);
  for (const auto& raw : raws) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    std::string normalized = p.normalizer.apply(text.substr(raw.start, raw.end - raw.start));
    for (const auto& piece : p.added.split_normalized(normalized)) {
      if (piece.id >= 0) {
        ids.push_back(piece.id);
        continue;
      }
      words.clear();
      std::string_view part(normalized.data() + piece.start, piece.end - piece.start);
      p.pre_tokenizer.split(part, raw.start == 0 && piece.start == 0, words);
      for (const auto& word : words) p.model.encode_word(word.text, ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), p.suffix.begin(), p.suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const auto& p = *pipeline_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const auto* added = p.added.find(id)) {
      if (!(skip_special_tokens && added->special)) tokens.push_back(added->content);
    } else if (const auto* token = p.model.token(id)) {
      tokens.push_back(*token);
    }
  }
  return p.decoder.decode(std::move(tokens));
}

std::string Tokenizer::piece(int32_t id) const {
  const auto& p = *pipeline_;
  if (const auto* added = p.added.find(id)) return added->content;
  if (const auto* token = p.model.token(id)) return *token;
  fail("[tokenizer] {}: id {} is not in the vocabulary of {} tokens", p.source, id, vocab_size());
}

size_t Tokenizer::vocab_size() const {
  const auto& p = *pipeline_;
  size_t size = p.model.size();
  for (const auto& t : p.added.tokens()) size = std::max(size, size_t(t.id) + 1);
  return size;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view piece) const {
  const auto& p = *pipeline_;
  if (auto id = p.added.find(piece)) return id;
  return p.model.token_id(piece);
}

std::optional<int32_t> Tokenizer::bos_id() const { return pipeline_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return pipeline_->eos; }
std::optional<int32_t> Tokenizer::pad_id() const { return pipeline_->pad; }

bool Tokenizer::is_special(int32_t id) const {
  const auto* added = pipeline_->added.find(id);
  return added && added->special;
}

}  // namespace vktrain::data

// Tokenizer::from_gguf_vocab: the vocabulary llama.cpp stores in GGUF files, built into the
// same pipeline a tokenizer.json gives, tokenizing as llama.cpp does on the same file (which is
// its Hugging Face original's tokenization but for the few places where llama.cpp differs).
//  - "gpt2": byte-level BPE. Merges are given; the pre-tokenizer regex follows
//    tokenizer.ggml.pre (qwen2: Qwen2/3's, without the NFC of their tokenizer.json, as
//    llama.cpp; llama-bpe: Llama-3's, which also skips merging words that are tokens;
//    gpt2/default: GPT-2's). Special tokens are cut out as llama.cpp does (SpecialTokenSplitter).
//  - "llama": SentencePiece, encoded exactly as llama.cpp does (tokenizer_gguf_spm.hpp).
// Control (and unknown) tokens are special, which decoding and is_special go by; they and the
// user-defined tokens are added tokens, cut out of the raw text as llama.cpp cuts them.
#include "base/error.hpp"
#include "data/tokenizer.hpp"
#include "data/tokenizer_pipeline.hpp"

namespace vktrain::data {
namespace {

constexpr const char* kSource = "GGUF vocabulary";
using namespace gguf_token_type;

int32_t token_type(const GgufVocab& v, size_t id) {
  return id < v.token_types.size() ? v.token_types[id] : kNormal;
}

std::vector<AddedToken> added_tokens(const GgufVocab& v) {
  std::vector<AddedToken> tokens;
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    int32_t type = token_type(v, id);
    if (type != kControl && type != kUnknown && type != kUserDefined) continue;
    AddedToken t;
    t.content = v.tokens[id];
    t.id = int32_t(id);
    t.special = type != kUserDefined;
    tokens.push_back(std::move(t));
  }
  return tokens;
}

std::vector<std::pair<std::string_view, std::string_view>> split_merges(const GgufVocab& v) {
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  pairs.reserve(v.merges.size());
  for (size_t i = 0; i < v.merges.size(); ++i) {
    std::string_view m = v.merges[i];
    size_t space = m.find(' ', 1);  // a token may itself be a space only in the first place
    if (space == std::string::npos)
      fail("[tokenizer] {}: merge {} '{}' is not two tokens separated by a space", kSource, i, m);
    pairs.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  return pairs;
}

void check_id(const std::optional<int32_t>& id, const GgufVocab& v, const char* what) {
  if (id && (*id < 0 || size_t(*id) >= v.tokens.size()))
    fail("[tokenizer] {}: {} token id {} is outside the {} tokens", kSource, what, *id,
         v.tokens.size());
}

}  // namespace

Tokenizer Tokenizer::from_gguf_vocab(const GgufVocab& v) {
  if (v.tokens.empty()) fail("[tokenizer] {}: tokenizer.ggml.tokens is empty", kSource);
  check_id(v.bos, v, "bos");
  check_id(v.eos, v, "eos");
  check_id(v.unk, v, "unk");
  check_id(v.pad, v, "pad");
  auto p = std::make_unique<TokenizerPipeline>();
  p->source = kSource;
  BpeOptions options;
  if (v.model == "gpt2") {
    // No NFC for qwen2 as its tokenizer.json has: llama.cpp does not normalize.
    if (v.pre == "qwen2") {
      p->pre_tokenizer.add_split(Pattern::regex(kQwen2Pattern, kSource), SplitBehavior::isolated);
    } else if (v.pre == "llama-bpe" || v.pre == "llama3") {
      p->pre_tokenizer.add_split(Pattern::regex(kLlama3Pattern, kSource), SplitBehavior::isolated);
      options.ignore_merges = true;
    } else if (v.pre == "gpt2" || v.pre == "gpt-2" || v.pre == "default" || v.pre.empty()) {
      p->pre_tokenizer.add_split(Pattern::regex(kGpt2Pattern, kSource), SplitBehavior::isolated);
    } else {
      fail("[tokenizer] {}: unsupported tokenizer.ggml.pre '{}' (supported: qwen2, llama-bpe, "
           "gpt2, default)",
           kSource, v.pre);
    }
    p->pre_tokenizer.add_byte_level(false, false);
    p->model = BpeModel(v.tokens, std::move(options));
    p->model.add_merges(p->model.merges_from_pairs(split_merges(v), kSource));
    p->decoder.add_byte_level();
    p->gguf_specials.emplace(v);
  } else if (v.model == "llama") {
    if (!v.scores.empty() && v.scores.size() != v.tokens.size())
      fail("[tokenizer] {}: {} tokens but {} scores; a \"llama\" vocabulary needs one score per "
           "token",
           kSource, v.tokens.size(), v.scores.size());
    p->spm.emplace(v);
    p->model = BpeModel(v.tokens, std::move(options));  // lookups and decoding only
    p->decoder.add_replace("\u2581", " ").add_byte_fallback().add_fuse();
    if (v.add_space_prefix) p->decoder.add_strip(" ", 1, 0);
  } else {
    fail("[tokenizer] {}: unsupported tokenizer.ggml.model '{}' (supported: gpt2, llama)", kSource,
         v.model);
  }
  p->added = AddedVocabulary(added_tokens(v), [](const std::string& s) { return s; });
  p->bos = v.bos;
  p->eos = v.eos;
  p->pad = v.pad;
  if (v.add_bos && v.bos) p->prefix = {*v.bos};
  if (v.add_eos && v.eos) p->suffix = {*v.eos};
  return Tokenizer(std::move(p));
}

}  // namespace vktrain::data

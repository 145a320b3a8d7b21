#include "data/model_text.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "io/json_file.hpp"
#include "io/model_config.hpp"

namespace vktrain::data {
namespace {

namespace fs = std::filesystem;

template <typename T>
std::vector<T> array_of(const io::GgufReader& gguf, const std::string& key) {
  const auto& array = gguf.get<io::GgufArray>(key);
  std::vector<T> out;
  out.reserve(array.items.size());
  for (const auto& item : array.items) {
    if (!item.is<T>())
      fail("[gguf] {}: {} holds an element of the wrong type", gguf.path(), key);
    out.push_back(item.as<T>());
  }
  return out;
}

std::optional<int32_t> token_id(const io::GgufReader& gguf, const std::string& key) {
  if (!gguf.find(key)) return std::nullopt;
  const uint64_t id = gguf.get_unsigned(key);
  if (id > uint64_t(INT32_MAX))  // read_gguf_vocab checks it against the tokens next
    fail("[gguf] {}: metadata '{}' = {} is not a token id", gguf.path(), key, id);
  return int32_t(id);
}

bool has_chat_template(const std::string& tokenizer_config) {
  std::ifstream in(tokenizer_config, std::ios::binary);
  auto j = io::parse_json_or_discarded(std::string((std::istreambuf_iterator<char>(in)), {}));
  return j.is_object() && j.contains("chat_template") && !j["chat_template"].is_null();
}

// A base model without a template of its own gets its family's chat format (DESIGN.md "Data").
std::string builtin_format(const fs::path& config_json) {
  if (!fs::exists(config_json)) return "chatml";
  return std::string(arch::describe(io::read_model_config(config_json.string()).family).chat_format);
}

}  // namespace

GgufVocab read_gguf_vocab(const io::GgufReader& gguf) {
  GgufVocab v;
  if (!gguf.find("tokenizer.ggml.model"))
    fail("[gguf] {}: no tokenizer (tokenizer.ggml.model is missing)", gguf.path());
  v.model = gguf.get<std::string>("tokenizer.ggml.model");
  if (gguf.find("tokenizer.ggml.pre")) v.pre = gguf.get<std::string>("tokenizer.ggml.pre");
  v.tokens = array_of<std::string>(gguf, "tokenizer.ggml.tokens");
  if (gguf.find("tokenizer.ggml.scores")) v.scores = array_of<float>(gguf, "tokenizer.ggml.scores");
  if (gguf.find("tokenizer.ggml.token_type"))
    v.token_types = array_of<int32_t>(gguf, "tokenizer.ggml.token_type");
  if (gguf.find("tokenizer.ggml.merges")) v.merges = array_of<std::string>(gguf, "tokenizer.ggml.merges");
  v.bos = token_id(gguf, "tokenizer.ggml.bos_token_id");
  v.eos = token_id(gguf, "tokenizer.ggml.eos_token_id");
  v.unk = token_id(gguf, "tokenizer.ggml.unknown_token_id");
  v.pad = token_id(gguf, "tokenizer.ggml.padding_token_id");
  if (v.model == "llama") {
    // llama.cpp's defaults for a SentencePiece vocabulary whose file leaves them out.
    v.add_bos = true;
    auto fallback = [&](std::optional<int32_t>& id, int32_t value) {
      if (!id && size_t(value) < v.tokens.size()) id = value;
    };
    fallback(v.bos, 1);
    fallback(v.eos, 2);
    fallback(v.unk, 0);
  }
  if (gguf.find("tokenizer.ggml.add_space_prefix"))
    v.add_space_prefix = gguf.get<bool>("tokenizer.ggml.add_space_prefix");
  if (gguf.find("tokenizer.ggml.add_bos_token")) v.add_bos = gguf.get<bool>("tokenizer.ggml.add_bos_token");
  if (gguf.find("tokenizer.ggml.add_eos_token")) v.add_eos = gguf.get<bool>("tokenizer.ggml.add_eos_token");
  for (auto [name, id] : {std::pair{"bos", v.bos}, {"eos", v.eos}, {"unknown", v.unk}, {"padding", v.pad}})
    if (id && size_t(*id) >= v.tokens.size())
      fail("[gguf] {}: tokenizer.ggml.{}_token_id {} is outside the {} tokens", gguf.path(), name,
           *id, v.tokens.size());
  if (!v.scores.empty() && v.scores.size() != v.tokens.size())
    fail("[gguf] {}: tokenizer.ggml.scores has {} entries for {} tokens", gguf.path(),
         v.scores.size(), v.tokens.size());
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size())
    fail("[gguf] {}: tokenizer.ggml.token_type has {} entries for {} tokens", gguf.path(),
         v.token_types.size(), v.tokens.size());
  return v;
}

Tokenizer load_tokenizer(const io::ModelSource& source) {
  if (source.is_gguf()) return Tokenizer::from_gguf_vocab(read_gguf_vocab(source.gguf()));
  return Tokenizer::from_directory(source.path());
}

ModelText load_model_text(const io::ModelSource& source,
                          const std::optional<std::string>& override_file) {
  if (!source.is_gguf()) {
    Tokenizer tokenizer = load_tokenizer(source);
    if (override_file) return {std::move(tokenizer), ChatTemplate::from_file(*override_file)};
    fs::path dir(source.path());
    fs::path config = dir / "tokenizer_config.json";
    if (fs::exists(dir / "chat_template.jinja") ||
        (fs::exists(config) && has_chat_template(config.string())))
      return {std::move(tokenizer), ChatTemplate::from_tokenizer_config(config.string())};
    return {std::move(tokenizer), ChatTemplate::builtin(builtin_format(dir / "config.json"))};
  }
  const io::GgufReader& gguf = source.gguf();
  GgufVocab vocab = read_gguf_vocab(gguf);
  Tokenizer tokenizer = Tokenizer::from_gguf_vocab(vocab);
  if (override_file) return {std::move(tokenizer), ChatTemplate::from_file(*override_file)};
  if (!gguf.find("tokenizer.chat_template"))
    return {std::move(tokenizer), ChatTemplate::builtin("chatml")};
  auto piece = [&](const std::optional<int32_t>& id) -> std::optional<std::string> {
    if (!id) return std::nullopt;
    return vocab.tokens[size_t(*id)];  // read_gguf_vocab checked the range
  };
  return {std::move(tokenizer),
          ChatTemplate::from_source(gguf.get<std::string>("tokenizer.chat_template"),
                                    source.path() + " (tokenizer.chat_template)", piece(vocab.bos),
                                    piece(vocab.eos))};
}

}  // namespace vktrain::data

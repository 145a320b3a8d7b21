#include "data/tokenizer_gguf_export.hpp"

#include <filesystem>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "arch/family.hpp"
#include "base/error.hpp"
#include "data/tokenizer.hpp"
#include "io/json_file.hpp"

namespace vktrain::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using namespace gguf_token_type;

json read_json(const fs::path& path) { return io::read_json_file(path.string(), "tokenizer"); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::map<std::string, io::GgufValue> from_gguf(const io::GgufReader& gguf) {
  std::map<std::string, io::GgufValue> out;
  for (const auto& [key, value] : gguf.metadata())
    if (key.starts_with("tokenizer.")) out.emplace(key, value);
  return out;
}

std::string pre_tokenizer(const io::ModelConfig& config, const fs::path& file) {
  const std::string_view pre = arch::describe(config.family).gguf_pre_tokenizer;
  if (pre.empty())
    fail("[export] {}: no GGUF vocabulary for a {} tokenizer here; export --format hf and "
         "convert that with llama.cpp's convert_hf_to_gguf.py",
         file.string(), io::family_name(config.family));
  return std::string(pre);
}

void add_config_keys(std::map<std::string, io::GgufValue>& out, const fs::path& dir) {
  const fs::path config = dir / "tokenizer_config.json";
  json j = fs::exists(config) ? read_json(config) : json::object();
  for (const char* key : {"add_bos_token", "add_eos_token"})
    if (j.contains(key) && j[key].is_boolean())
      out[std::string("tokenizer.ggml.") + key] = j[key].get<bool>();
  if (j.contains("chat_template") && j["chat_template"].is_string())
    out["tokenizer.chat_template"] = j["chat_template"].get<std::string>();
  else if (j.contains("chat_template") && j["chat_template"].is_array())
    for (const auto& t : j["chat_template"])
      if (t.value("name", "") == "default") out["tokenizer.chat_template"] = t.value("template", "");
  if (!out.count("tokenizer.chat_template") && fs::exists(dir / "chat_template.jinja"))
    out["tokenizer.chat_template"] = read_text(dir / "chat_template.jinja");
}

// The converter's does_token_look_special: added tokens it makes control tokens either way.
bool looks_special(const std::string& text) {
  return text == "<pad>" || text == "<mask>" || text == "<2mass>" || text == "[@BOS@]" ||
         (text.starts_with("<|") && text.ends_with("|>")) ||
         (text.starts_with("<unused") && text.ends_with(">"));
}

bool is_byte_token(const std::string& text) {
  return text.size() == 6 && text.starts_with("<0x") && text.ends_with(">");
}

// Whether the tokenizer puts "▁" in front of the text (Llama 2, Mistral: a Prepend normalizer or
// a Metaspace pre-tokenizer that prepends), which llama.cpp does when add_space_prefix is set.
bool prepends_space(const json& stage) {
  if (!stage.is_object()) return false;
  const std::string type = stage.value("type", "");
  if (type == "Sequence") {
    for (const char* list : {"normalizers", "pretokenizers"})
      if (stage.contains(list))
        for (const auto& s : stage[list])
          if (prepends_space(s)) return true;
    return false;
  }
  if (type == "Prepend") return stage.value("prepend", "") == "\u2581";
  if (type == "Metaspace")
    return stage.contains("prepend_scheme") ? stage.value("prepend_scheme", "") != "never"
                                            : stage.value("add_prefix_space", true);
  return false;
}

std::optional<int64_t> config_token_id(const json& tokenizer, const fs::path& dir, const char* key) {
  const fs::path path = dir / "tokenizer_config.json";
  if (!fs::exists(path)) return std::nullopt;
  const json config = read_json(path);
  if (!config.contains(key)) return std::nullopt;
  const json& entry = config[key];
  const std::string text = entry.is_object() ? entry.value("content", "")
                           : entry.is_string() ? entry.get<std::string>()
                                               : std::string();
  for (const auto& t : tokenizer.value("added_tokens", json::array()))
    if (t.value("content", "") == text) return t.at("id").get<int64_t>();
  const json& vocab = tokenizer.at("model").at("vocab");
  if (vocab.contains(text)) return vocab[text].get<int64_t>();
  return std::nullopt;
}

// As convert_hf_to_gguf.py writes a vocabulary: byte-level BPE as _set_vocab_gpt2, SentencePiece
// (byte_fallback) as _create_vocab_sentencepiece. That one reads tokenizer.model's scores, which
// tokenizer.json lacks; SentencePiece's BPE trainer scores its i-th learned piece -i, and
// tokenizer.json keeps the pieces in that order, so a normal piece scores minus its id, which
// merges pairs in the order the merges of tokenizer.json do.
std::map<std::string, io::GgufValue> from_directory(const fs::path& dir,
                                                    const io::ModelConfig& config) {
  const fs::path file = dir / "tokenizer.json";
  if (!fs::exists(file)) return {};
  const json j = read_json(file);
  const json& model = j.at("model");
  if (model.value("type", "") != "BPE")
    fail("[export] {}: only BPE tokenizers (byte-level or SentencePiece) become GGUF "
         "vocabularies here, this one is '{}'; export --format hf and convert that with "
         "llama.cpp's convert_hf_to_gguf.py",
         file.string(), model.value("type", ""));
  const bool sentencepiece = model.value("byte_fallback", false);
  std::map<std::string, io::GgufValue> out;
  out["tokenizer.ggml.model"] = sentencepiece ? "llama" : "gpt2";
  out["tokenizer.ggml.pre"] = sentencepiece ? "default" : pre_tokenizer(config, file);

  const size_t rows = size_t(config.vocab_size);
  std::vector<std::string> tokens(rows);
  std::vector<int32_t> types(rows, kUnused);
  std::vector<float> scores(rows, -10000.0f);
  auto place = [&](int64_t id, const std::string& text, int32_t type, float score) {
    if (id < 0 || size_t(id) >= rows)
      fail("[export] {}: token id {} ('{}') is outside the model's {} embedding rows",
           file.string(), id, text, rows);
    tokens[size_t(id)] = text;
    types[size_t(id)] = type;
    scores[size_t(id)] = score;
  };
  for (const auto& [text, id] : model.at("vocab").items()) {
    const int64_t i = id.get<int64_t>();
    if (sentencepiece && is_byte_token(text))
      place(i, text, kByte, 0.0f);
    else
      place(i, text, kNormal, sentencepiece ? -float(i) : 0.0f);
  }
  if (sentencepiece && model.contains("unk_token") && model["unk_token"].is_string()) {
    const std::string unk = model["unk_token"].get<std::string>();
    if (model["vocab"].contains(unk)) {
      const int64_t id = model["vocab"][unk].get<int64_t>();
      place(id, unk, kUnknown, 0.0f);
      out["tokenizer.ggml.unknown_token_id"] = uint32_t(id);
    }
  }
  for (const auto& t : j.value("added_tokens", json::array())) {
    // An added token past the embedding rows (Gemma 3 1B's <image_soft_token>) is one the model
    // can neither read nor produce; the converter leaves it out too.
    if (t.at("id").get<int64_t>() >= int64_t(rows)) continue;
    std::string text = t.at("content").get<std::string>();
    const bool control = t.value("special", false) || looks_special(text);
    // The converter writes SentencePiece user-defined tokens with their "▁" as the spaces they
    // stand for, so that llama.cpp finds them in the raw text ("▁▁" matches two spaces).
    if (sentencepiece && !control)
      for (size_t at; (at = text.find("\u2581")) != std::string::npos;) text.replace(at, 3, " ");
    place(t.at("id").get<int64_t>(), text, control ? kControl : kUserDefined, -1000.0f);
  }
  for (size_t id = 0; id < rows; ++id)
    if (types[id] == kUnused) tokens[id] = fmt::format("[PAD{}]", id);
  out["tokenizer.ggml.tokens"] = io::gguf_array(tokens);
  out["tokenizer.ggml.token_type"] = io::gguf_array(types);
  if (auto pad = config_token_id(j, dir, "pad_token"); pad && size_t(*pad) < rows)
    out["tokenizer.ggml.padding_token_id"] = uint32_t(*pad);

  if (sentencepiece) {
    out["tokenizer.ggml.scores"] = io::gguf_array(scores);
    out["tokenizer.ggml.add_space_prefix"] =
        prepends_space(j.value("normalizer", json())) || prepends_space(j.value("pre_tokenizer", json()));
  } else {
    std::vector<std::string> merges;
    for (const auto& m : model.at("merges"))
      merges.push_back(m.is_string() ? m.get<std::string>()
                                     : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
    out["tokenizer.ggml.merges"] = io::gguf_array(merges);
  }
  add_config_keys(out, dir);
  return out;
}

}  // namespace

std::map<std::string, io::GgufValue> gguf_tokenizer_metadata(const io::ModelSource& source,
                                                              const io::ModelConfig& config) {
  if (source.is_gguf()) return from_gguf(source.gguf());
  return from_directory(source.path(), config);
}

}  // namespace vktrain::data

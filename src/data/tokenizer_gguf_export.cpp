#include "data/tokenizer_gguf_export.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.hpp"
#include "io/json_file.hpp"

namespace vktrain::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int32_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

json read_json(const fs::path& path) { return io::read_json_file(path.string(), "tokenizer"); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::map<std::string, io::GgufValue> from_gguf(const std::string& path) {
  io::GgufReader gguf(path);
  std::map<std::string, io::GgufValue> out;
  for (const auto& [key, value] : gguf.metadata())
    if (key.starts_with("tokenizer.")) out.emplace(key, value);
  return out;
}

std::string pre_tokenizer(const io::ModelConfig& config, const fs::path& file) {
  switch (config.family) {
    case io::Family::qwen2:
    case io::Family::qwen3: return "qwen2";
    case io::Family::llama: return "llama-bpe";
    default:
      fail("[export] {}: no GGUF vocabulary for a {} tokenizer here; export --format hf and "
           "convert that with llama.cpp's convert_hf_to_gguf.py",
           file.string(), io::family_name(config.family));
  }
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

std::map<std::string, io::GgufValue> from_directory(const fs::path& dir,
                                                    const io::ModelConfig& config) {
  const fs::path file = dir / "tokenizer.json";
  if (!fs::exists(file)) return {};
  const json j = read_json(file);
  const json& model = j.at("model");
  if (model.value("type", "") != "BPE" || model.value("byte_fallback", false))
    fail("[export] {}: only byte-level BPE tokenizers become GGUF vocabularies here (this is a "
         "SentencePiece one); export --format hf and convert that with llama.cpp's "
         "convert_hf_to_gguf.py",
         file.string());
  std::map<std::string, io::GgufValue> out;
  out["tokenizer.ggml.model"] = "gpt2";
  out["tokenizer.ggml.pre"] = pre_tokenizer(config, file);

  const size_t rows = size_t(config.vocab_size);
  std::vector<std::string> tokens(rows);
  std::vector<int32_t> types(rows, kUnused);
  auto place = [&](int64_t id, const std::string& text, int32_t type) {
    if (id < 0 || size_t(id) >= rows)
      fail("[export] {}: token id {} ('{}') is outside the model's {} embedding rows",
           file.string(), id, text, rows);
    tokens[size_t(id)] = text;
    types[size_t(id)] = type;
  };
  for (const auto& [text, id] : model.at("vocab").items()) place(id.get<int64_t>(), text, kNormal);
  if (j.contains("added_tokens"))
    for (const auto& t : j["added_tokens"]) {
      const std::string text = t.at("content").get<std::string>();
      // The converter's does_token_look_special: "<|...|>" is a control token either way.
      const bool looks_special = text.starts_with("<|") && text.ends_with("|>");
      place(t.at("id").get<int64_t>(), text,
            t.value("special", false) || looks_special ? kControl : kUserDefined);
    }
  for (size_t id = 0; id < rows; ++id)
    if (types[id] == kUnused) tokens[id] = fmt::format("[PAD{}]", id);
  out["tokenizer.ggml.tokens"] = io::gguf_array(tokens);
  out["tokenizer.ggml.token_type"] = io::gguf_array(types);

  std::vector<std::string> merges;
  for (const auto& m : model.at("merges"))
    merges.push_back(m.is_string() ? m.get<std::string>()
                                   : m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
  out["tokenizer.ggml.merges"] = io::gguf_array(merges);
  add_config_keys(out, dir);
  return out;
}

}  // namespace

std::map<std::string, io::GgufValue> gguf_tokenizer_metadata(const std::string& model_path,
                                                              const io::ModelConfig& config) {
  if (fs::is_directory(model_path)) return from_directory(model_path, config);
  return from_gguf(model_path);
}

}  // namespace vktrain::data

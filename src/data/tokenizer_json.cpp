// Tokenizer::from_json_file / from_directory: a Hugging Face tokenizer.json (and
// tokenizer_config.json) turned into a TokenizerPipeline. Only the BPE model is supported; the
// normalizer, pre-tokenizer and decoder stages parse their own parts.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.hpp"
#include "data/tokenizer.hpp"
#include "data/tokenizer_json.hpp"
#include "data/tokenizer_pipeline.hpp"
#include "io/json_file.hpp"
#include "io/model_config.hpp"

namespace vktrain::data {
namespace {

using nlohmann::json;

// Ids index tables sized by the largest one: each must be below the largest vocabulary vktrain
// accepts (io::limits::kVocab), or one hostile id would cost gigabytes.
constexpr int64_t kMaxId = io::limits::kVocab;

json read_json(const std::string& path) { return io::read_json_file(path, "tokenizer"); }

std::string optional_string(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

BpeModel parse_model(const json& model, const std::string& file) {
  if (!model.is_object()) fail("[tokenizer] {}: \"model\" is missing or not an object", file);
  std::string type = optional_string(model, "type");
  if (type.empty() && model.contains("merges")) type = "BPE";  // old files omit the type
  if (type != "BPE")
    fail("[tokenizer] {}: unsupported model type '{}' (only BPE is supported)", file, type);
  if (!model.contains("vocab") || !model["vocab"].is_object())
    fail("[tokenizer] {}: model.vocab is missing or not an object", file);
  const auto& vocab = model["vocab"];
  std::vector<std::string> tokens;
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxId)
      fail("[tokenizer] {}: model.vocab['{}'] = {} is not an id in 0..{}", file, token,
           id.dump().substr(0, 40), kMaxId - 1);
    size_t index = id.get<size_t>();
    if (index >= tokens.size()) tokens.resize(index + 1);
    tokens[index] = token;
  }
  BpeOptions options;
  const io::JsonFields fields(model, file + " model", "tokenizer");
  options.byte_fallback = fields.get("byte_fallback", false);
  options.fuse_unk = fields.get("fuse_unk", false);
  options.ignore_merges = fields.get("ignore_merges", false);
  options.continuing_subword_prefix = optional_string(model, "continuing_subword_prefix");
  options.end_of_word_suffix = optional_string(model, "end_of_word_suffix");
  std::string unk = optional_string(model, "unk_token");
  if (auto it = vocab.find(unk); !unk.empty() && it != vocab.end()) options.unk = int32_t(*it);

  // Views into the JSON document, which outlives them.
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  const auto& merges = member(model, "merges");
  if (!merges.is_null() && !merges.is_array())
    fail("[tokenizer] {}: model.merges is not a list", file);
  pairs.reserve(merges.size());
  for (const auto& merge : merges) {
    if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      pairs.emplace_back(merge[0].get_ref<const std::string&>(),
                         merge[1].get_ref<const std::string&>());
      continue;
    }
    // The older format: one string "left right".
    std::string_view text = merge.is_string() ? std::string_view(merge.get_ref<const std::string&>())
                                              : std::string_view();
    size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos)
      fail("[tokenizer] {}: merge {} is neither \"left right\" nor [left, right]: {}", file,
           pairs.size(), merge.dump());
    pairs.emplace_back(text.substr(0, space), text.substr(space + 1));
  }
  BpeModel bpe(std::move(tokens), std::move(options));
  bpe.add_merges(bpe.merges_from_pairs(pairs, file));
  return bpe;
}

int32_t checked_id(const io::JsonFields& fields, const char* key) {
  const int64_t id = fields.need<int64_t>(key);
  if (id < 0 || id >= kMaxId) fields.fail_field(key, "= {} is not an id in 0..{}", id, kMaxId - 1);
  return int32_t(id);
}

std::vector<AddedToken> parse_added_tokens(const json& list, const std::string& file) {
  std::vector<AddedToken> tokens;
  if (list.is_null()) return tokens;
  if (!list.is_array()) fail("[tokenizer] {}: \"added_tokens\" is not a list", file);
  for (const auto& t : list) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() ||
        !t.contains("content") || !t["content"].is_string())
      fail("[tokenizer] {}: added token without an integer id and a content: {}", file,
           t.dump().substr(0, 200));
    const io::JsonFields fields(t, fmt::format("{} added_tokens[{}]", file, tokens.size()),
                                "tokenizer");
    AddedToken token;
    token.content = fields.need<std::string>("content");
    token.id = checked_id(fields, "id");
    token.special = fields.get("special", false);
    token.single_word = fields.get("single_word", false);
    token.lstrip = fields.get("lstrip", false);
    token.rstrip = fields.get("rstrip", false);
    token.normalized = fields.get("normalized", !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

int32_t special_id(const json& id, const std::string& file, std::string_view name) {
  if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxId)
    fail("[tokenizer] {}: post_processor id {} of '{}' is not an id in 0..{}", file,
         id.dump().substr(0, 40), name, kMaxId - 1);
  return int32_t(id.get<int64_t>());
}

// The ids a post-processor puts before and after a single sequence. Processors of a Sequence
// wrap in turn, so a later one's prefix goes first.
void parse_post_processor(const json& post, const std::string& file, std::vector<int32_t>& prefix,
                          std::vector<int32_t>& suffix) {
  if (post.is_null()) return;
  std::string type = stage_type(post, "post_processor", file);
  if (type == "Sequence") {
    for (const auto& p : post.value("processors", json::array()))
      parse_post_processor(p, file, prefix, suffix);
  } else if (type == "ByteLevel") {
    // Only adjusts offsets.
  } else if (type == "TemplateProcessing") {
    std::vector<int32_t> before, after;
    bool seen_sequence = false;
    const json& specials = member(post, "special_tokens");
    const json& single = member(post, "single");
    if (!single.is_null() && !single.is_array())
      fail("[tokenizer] {}: post_processor.single is not a list", file);
    for (const auto& item : single) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      std::string name = item.contains("SpecialToken") ? optional_string(item["SpecialToken"], "id") : "";
      if (!specials.contains(name) || !specials[name].is_object())
        fail("[tokenizer] {}: TemplateProcessing uses '{}', missing from its special_tokens", file,
             name);
      auto& target = seen_sequence ? after : before;
      const json& ids = member(specials[name], "ids");
      if (!ids.is_array())
        fail("[tokenizer] {}: post_processor.special_tokens['{}'].ids is not a list", file, name);
      for (const auto& id : ids) target.push_back(special_id(id, file, name));
    }
    prefix.insert(prefix.begin(), before.begin(), before.end());
    suffix.insert(suffix.end(), after.begin(), after.end());
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    // "cls": ["[CLS]", 101]
    for (const char* key : {"cls", "sep"}) {
      const json& pair = member(post, key);
      if (!pair.is_array() || pair.size() != 2)
        fail("[tokenizer] {}: post_processor.{} must be [token, id], not {}", file, key,
             pair.dump().substr(0, 80));
      const int32_t id = special_id(pair[1], file, key);
      if (key == std::string_view("cls")) prefix.insert(prefix.begin(), id);
      else suffix.push_back(id);
    }
  } else {
    fail("[tokenizer] {}: unsupported post_processor type '{}' (supported: TemplateProcessing, "
         "ByteLevel, BertProcessing, RobertaProcessing, Sequence)",
         file, type);
  }
}

// A special token named in tokenizer_config.json: a string, {"content": ...} or null.
std::optional<int32_t> config_token(const json& config, const char* key,
                                    const TokenizerPipeline& p) {
  auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  std::string content = it->is_string() ? it->get<std::string>()
                        : it->is_object() ? optional_string(*it, "content")
                                          : std::string();
  if (content.empty()) return std::nullopt;
  if (auto id = p.added.find(content)) return id;
  return p.model.token_id(content);
}

std::unique_ptr<TokenizerPipeline> load_pipeline(const std::string& file) {
  json root = read_json(file);
  if (!root.is_object()) fail("[tokenizer] {}: the top level is not a JSON object", file);
  auto p = std::make_unique<TokenizerPipeline>();
  p->source = file;
  p->model = parse_model(member(root, "model"), file);
  p->normalizer = Normalizer::from_json(member(root, "normalizer"), file);
  p->pre_tokenizer = PreTokenizer::from_json(member(root, "pre_tokenizer"), file);
  p->decoder = Decoder::from_json(member(root, "decoder"), file);
  const Normalizer& normalizer = p->normalizer;
  p->added = AddedVocabulary(parse_added_tokens(member(root, "added_tokens"), file),
                             [&](const std::string& s) { return normalizer.apply(s); });
  parse_post_processor(member(root, "post_processor"), file, p->prefix, p->suffix);
  if (!p->prefix.empty()) p->bos = p->prefix.front();
  return p;
}

}  // namespace

std::string stage_type(const json& json, const char* stage, const std::string& file) {
  if (!json.is_object() || !json.contains("type") || !json["type"].is_string())
    fail("[tokenizer] {}: {} has no \"type\": {}", file, stage, json.dump().substr(0, 200));
  return json["type"].get<std::string>();
}

const json& member(const json& object, const char* key) {
  static const json null;  // immutable
  auto it = object.find(key);
  return it == object.end() ? null : *it;
}

Tokenizer Tokenizer::from_json_file(const std::string& tokenizer_json) {
  return Tokenizer(load_pipeline(tokenizer_json));
}

Tokenizer Tokenizer::from_directory(const std::string& dir) {
  namespace fs = std::filesystem;
  auto json_path = (fs::path(dir) / "tokenizer.json").string();
  if (!fs::exists(json_path))
    fail("[tokenizer] {}: no tokenizer.json (only tokenizer.json BPE tokenizers are supported)", dir);
  auto p = load_pipeline(json_path);
  auto config_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (!fs::exists(config_path)) return Tokenizer(std::move(p));
  json config = read_json(config_path);
  if (!config.is_object()) fail("[tokenizer] {}: the top level is not a JSON object", config_path);
  if (auto bos = config_token(config, "bos_token", *p)) p->bos = bos;
  if (auto eos = config_token(config, "eos_token", *p)) p->eos = eos;
  if (auto pad = config_token(config, "pad_token", *p)) p->pad = pad;
  // When the post-processor adds nothing, the config's flags say what add_special_tokens adds.
  if (p->prefix.empty() && p->suffix.empty()) {
    const io::JsonFields fields(config, config_path, "tokenizer");
    if (fields.get("add_bos_token", false) && p->bos) p->prefix = {*p->bos};
    if (fields.get("add_eos_token", false) && p->eos) p->suffix = {*p->eos};
  }
  return Tokenizer(std::move(p));
}

}  // namespace vktrain::data

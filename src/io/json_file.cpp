#include "io/json_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "io/file.hpp"

namespace vktrain::io {
namespace {

// Whether arrays and objects in `text` nest deeper than kMaxJsonDepth, counting brackets outside
// strings the way the JSON lexer does. Invalid JSON may count wrongly past its first error, where
// the parser stops anyway.
bool too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

template <typename Json>
Json parse_checked(std::string_view text, const std::string& source, const char* format) {
  if (too_deep(text))
    fail("[{}] {}: JSON nested deeper than {} levels; no file vktrain reads is, so it is corrupt "
         "or hostile",
         format, source, kMaxJsonDepth);
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("[{}] {}: not valid JSON ({})", format, source, e.what());
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& source, const char* format) {
  return parse_checked<nlohmann::json>(text, source, format);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& source,
                                          const char* format) {
  return parse_checked<nlohmann::ordered_json>(text, source, format);
}

nlohmann::json parse_json_or_discarded(std::string_view text) {
  if (too_deep(text)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json read_json_file(const std::string& path, const char* format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[{}] cannot open {}: {}", format, path, std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_json(text, path, format);
}

void write_json_file(const std::string& path, const nlohmann::json& value, const char* format) {
  write_file_atomically(path, format, [&](std::ofstream& out) { out << value.dump(2) << '\n'; });
}

JsonFields::JsonFields(const nlohmann::json& object, std::string source, const char* format)
    : object_(object), source_(std::move(source)), format_(format) {
  if (!object_.is_object()) fail("[{}] {} does not hold a JSON object", format_, source_);
}

const nlohmann::json& JsonFields::at(const char* key) const {
  if (!has(key)) fail("[{}] {}: missing field '{}'", format_, source_, key);
  return object_[key];
}

}  // namespace vktrain::io

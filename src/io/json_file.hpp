#pragma once
// JSON files that vktrain reads and writes (adapter configs, trainer state): parsing a whole file
// and typed access to an object's fields, with every error naming the file and the field.
// `format` prefixes messages, e.g. "peft" -> "[peft] runs/a/adapter_config.json: ...".
#include <nlohmann/json.hpp>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/error.hpp"

namespace vktrain::io {

// Deeper nesting than any real config, tokenizer or header: such a document is refused before
// nlohmann builds it, as building, copying and printing it recurse once per level.
constexpr int kMaxJsonDepth = 256;

// The JSON value in `text`, read from `source` (a file name, or "FILE line N"). Invalid JSON or
// nesting deeper than kMaxJsonDepth is one error "[format] source ..." naming the source.
nlohmann::json parse_json(std::string_view text, const std::string& source, const char* format);
// The same in the document's key order (a dataset line's tools, which templates print as JSON).
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& source,
                                          const char* format);
// The same for callers that tolerate bad input (a log's torn last line): a discarded value
// (is_discarded()) instead of an error.
nlohmann::json parse_json_or_discarded(std::string_view text);
// The JSON value in `path`. A missing file or invalid JSON is one error naming the file.
nlohmann::json read_json_file(const std::string& path, const char* format);
// `value` indented by 2, written through a temporary file and a rename.
void write_json_file(const std::string& path, const nlohmann::json& value, const char* format);

// The fields of one JSON object read from `source` (a file name). A field that is null counts as
// absent, as Python's json writes None.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string source, const char* format);

  bool has(const char* key) const { return object_.contains(key) && !object_[key].is_null(); }
  const nlohmann::json& at(const char* key) const;  // throws "missing field" when absent

  template <typename T>
  T need(const char* key) const {
    return as<T>(key, at(key));
  }
  template <typename T>
  T get(const char* key, T fallback) const {
    return has(key) ? as<T>(key, object_[key]) : fallback;
  }

  // A value as an error message shows it: its JSON, cut to 80 characters.
  static std::string shown(const nlohmann::json& value) { return value.dump().substr(0, 80); }

  // "[format] source: field 'key' <message>"
  template <typename... Args>
  [[noreturn]] void fail_field(const char* key, fmt::format_string<Args...> message,
                               Args&&... args) const {
    fail("[{}] {}: field '{}' {}", format_, source_, key,
         fmt::format(message, std::forward<Args>(args)...));
  }

 private:
  // An integer must be one and fit T: nlohmann would turn 2.5 into 2 and 1e30 into anything.
  template <typename T>
  T as(const char* key, const nlohmann::json& value) const {
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (!value.is_number_integer())
        fail_field(key, "has the wrong type ({}); it must be an integer", shown(value));
      const bool fits = value.is_number_unsigned()
                            ? value.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                            : value.get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                  (std::is_unsigned_v<T> ||
                                   value.get<int64_t>() <= int64_t(std::numeric_limits<T>::max()));
      if (!fits) fail_field(key, "= {} is out of range", shown(value));
    }
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception&) {
      fail_field(key, "has the wrong type ({})", shown(value));
    }
  }

  const nlohmann::json& object_;
  std::string source_;
  const char* format_;
};

}  // namespace vktrain::io

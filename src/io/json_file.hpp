#pragma once
// JSON files that vktrain reads and writes (adapter configs, trainer state): parsing a whole file
// and typed access to an object's fields, with every error naming the file and the field.
// `format` prefixes messages, e.g. "peft" -> "[peft] runs/a/adapter_config.json: ...".
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"

namespace vktrain::io {

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

  // "[format] source: field 'key' <message>"
  template <typename... Args>
  [[noreturn]] void fail_field(const char* key, fmt::format_string<Args...> message,
                               Args&&... args) const {
    fail("[{}] {}: field '{}' {}", format_, source_, key,
         fmt::format(message, std::forward<Args>(args)...));
  }

 private:
  template <typename T>
  T as(const char* key, const nlohmann::json& value) const {
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception&) {
      fail_field(key, "has the wrong type ({})", value.dump());
    }
  }

  const nlohmann::json& object_;
  std::string source_;
  const char* format_;
};

}  // namespace vktrain::io

#include "io/json_file.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "io/file.hpp"

namespace vktrain::io {

nlohmann::json read_json_file(const std::string& path, const char* format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("[{}] cannot open {}: {}", format, path, std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("[{}] {} is not valid JSON ({})", format, path, e.what());
  }
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

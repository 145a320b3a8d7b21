#include "io/safetensors.hpp"


#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "io/file.hpp"
#include "io/json_file.hpp"

namespace vktrain::io {
namespace {

// The header may not claim more than this: a lying length must not become a huge allocation.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t checked_product(const std::string& path, const std::string& name,
                         const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail("[safetensors] {}: tensor '{}' has a negative dimension", path, name);
    if (d != 0 && n > UINT64_MAX / uint64_t(d))
      fail("[safetensors] {}: tensor '{}' has a shape too large to address", path, name);
    n *= uint64_t(d);
  }
  return n;
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2},
      {"U16", 2},  {"F16", 2}, {"BF16", 2}, {"I32", 4},     {"U32", 4},     {"F32", 4},
      {"I64", 8},  {"U64", 8}, {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

SafetensorsReader::SafetensorsReader(const std::string& path)
    : path_(path), file_(path, "safetensors") {
  if (file_.size() < 8)
    fail("[safetensors] {} is truncated: {} bytes, shorter than the 8-byte header length", path,
         file_.size());
  {
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, file_.data(), 8);  // little-endian on every platform vktrain runs on
    if (header_bytes > kMaxHeaderBytes || header_bytes > file_.size() - 8)
      fail("[safetensors] {}: header length {} runs past the end of the {}-byte file (truncated "
           "or not a safetensors file)",
           path, header_bytes, file_.size());
    data_start_ = 8 + header_bytes;
    const nlohmann::json header = parse_json(
        std::string_view(reinterpret_cast<const char*>(file_.data()) + 8, header_bytes),
        path + " header", "safetensors");
    if (!header.is_object()) fail("[safetensors] {}: the header is not a JSON object", path);

    std::vector<const SafetensorsEntry*> by_offset;
    for (const auto& item : header.items()) {
      // Named, not structured bindings: clang 14 (the fuzz build) cannot capture those.
      const std::string& name = item.key();
      const nlohmann::json& value = item.value();
      if (name == "__metadata__") {
        if (!value.is_object()) fail("[safetensors] {}: __metadata__ is not an object", path);
        for (auto& [key, text] : value.items()) {
          if (!text.is_string())
            fail("[safetensors] {}: __metadata__ field '{}' is not a string", path, key);
          metadata_[key] = text.get<std::string>();
        }
        continue;
      }
      auto field = [&](const char* key) -> const nlohmann::json& {
        if (!value.is_object() || !value.contains(key))
          fail("[safetensors] {}: tensor '{}' lacks the field '{}'", path, name, key);
        return value[key];
      };
      SafetensorsEntry entry;
      const auto& dtype = field("dtype");
      const auto& shape = field("shape");
      const auto& offsets = field("data_offsets");
      if (!dtype.is_string() || !safetensors_dtype_size(dtype.get<std::string>()))
        fail("[safetensors] {}: tensor '{}' has unknown dtype {}", path, name, dtype.dump());
      entry.dtype = dtype.get<std::string>();
      if (!shape.is_array()) fail("[safetensors] {}: tensor '{}' shape is not a list", path, name);
      for (const auto& d : shape) {
        if (!d.is_number_integer())
          fail("[safetensors] {}: tensor '{}' shape holds a non-integer", path, name);
        entry.shape.push_back(d.get<int64_t>());
      }
      if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
          !offsets[1].is_number_unsigned())
        fail("[safetensors] {}: tensor '{}' data_offsets must be two non-negative integers", path,
             name);
      entry.begin = offsets[0].get<uint64_t>();
      entry.end = offsets[1].get<uint64_t>();
      uint64_t data_bytes = file_.size() - data_start_;
      if (entry.begin > entry.end || entry.end > data_bytes)
        fail("[safetensors] {}: tensor '{}' data_offsets [{}, {}] lie outside the {}-byte data "
             "section (truncated file?)",
             path, name, entry.begin, entry.end, data_bytes);
      uint64_t elements = checked_product(path, name, entry.shape);
      uint64_t size = safetensors_dtype_size(entry.dtype);
      if (elements > UINT64_MAX / size || elements * size != entry.end - entry.begin)
        fail("[safetensors] {}: tensor '{}' of {} {} elements does not fill its {} bytes", path,
             name, elements, entry.dtype, entry.end - entry.begin);
      by_offset.push_back(&tensors_.emplace(name, std::move(entry)).first->second);
    }
    // The data section is the tensors, back to back: no gaps, no overlaps.
    std::sort(by_offset.begin(), by_offset.end(),
              [](auto* a, auto* b) { return a->begin < b->begin || (a->begin == b->begin && a->end < b->end); });
    uint64_t expected = 0;
    for (const auto* e : by_offset) {
      if (e->begin != expected)
        fail("[safetensors] {}: tensor data {} at byte {} (expected {}): tensors overlap or "
             "leave gaps",
             path, e->begin < expected ? "overlaps" : "starts", e->begin, expected);
      expected = e->end;
    }
  }
}

const SafetensorsEntry& SafetensorsReader::entry(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("[safetensors] {} has no tensor '{}'", path_, name);
  return it->second;
}

std::span<const std::byte> SafetensorsReader::data(const std::string& name) const {
  const auto& e = entry(name);
  return {file_.data() + data_start_ + e.begin, size_t(e.end - e.begin)};
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    size_t size = safetensors_dtype_size(t.dtype);
    if (!size) fail("[safetensors] {}: tensor '{}' has unknown dtype '{}'", path, t.name, t.dtype);
    if (checked_product(path, t.name, t.shape) * size != t.bytes.size())
      fail("[safetensors] {}: tensor '{}' has {} bytes, its shape needs {}", path, t.name,
           t.bytes.size(), checked_product(path, t.name, t.shape) * size);
    if (header.contains(t.name)) fail("[safetensors] {}: tensor '{}' appears twice", path, t.name);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint64_t length = text.size();

  write_file_atomically(path, "safetensors", [&](std::ofstream& out) {
    out.write(reinterpret_cast<const char*>(&length), 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const auto& t : tensors)
      out.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
  });
}

}  // namespace vktrain::io

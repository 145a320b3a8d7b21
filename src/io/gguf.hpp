#pragma once
// GGUF, llama.cpp's model file, versions 2 and 3 (they differ only in allowing big-endian files,
// which vktrain does not read). Little-endian throughout:
//   "GGUF", u32 version, u64 tensor count, u64 metadata count,
//   metadata:     (string key, u32 value type, value)*
//   tensor infos: (string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset)*
//   zero padding to `general.alignment` (a u32, default 32), then the data section.
// A string is a u64 byte count and the bytes; an array is a u32 element type, a u64 count and the
// elements, which may be strings or arrays again. dims are ggml's ne: dims[0] is the
// fastest-moving dimension, so a Hugging Face [out, in] weight has dims {in, out}. Offsets are
// relative to the data section and multiples of the alignment.
// The reader maps the file and checks every count and length against the bytes that remain
// before it allocates anything, so a corrupt or hostile file ends in one "[gguf] FILE: ..." error
// that names the field. The writer pads like llama.cpp (every tensor to the alignment) and writes
// through a temporary file and a rename.
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "io/file.hpp"
#include "io/quant.hpp"

namespace vktrain::io {

// GGUF's value type ids; they equal the index of the alternative in GgufValue::Variant.
enum class GgufType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8,
  array = 9, u64 = 10, i64 = 11, f64 = 12,
};
std::string_view gguf_type_name(GgufType type);  // "u32", "string", ...; "unknown" if unknown

struct GgufValue;

struct GgufArray {
  GgufType type = GgufType::u8;   // of every item (kept, so an empty array round-trips)
  std::vector<GgufValue> items;   // a nested array is an item holding a GgufArray
  friend bool operator==(const GgufArray&, const GgufArray&) = default;
};

struct GgufValue {
  using Variant = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, GgufArray, uint64_t, int64_t, double>;
  template <typename T, typename V>
  struct is_alternative;
  template <typename T, typename... Ts>
  struct is_alternative<T, std::variant<Ts...>>
      : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};

  Variant value;

  GgufValue() = default;
  // Only the exact GGUF types convert, so 3 is an i32, 3u a u32 and uint64_t{3} a u64.
  template <typename T>
    requires is_alternative<std::decay_t<T>, Variant>::value
  GgufValue(T v) : value(std::in_place_type<std::decay_t<T>>, std::move(v)) {}
  GgufValue(const char* text) : value(std::in_place_type<std::string>, text) {}

  GgufType type() const { return GgufType(value.index()); }
  template <typename T>
  bool is() const { return std::holds_alternative<T>(value); }
  template <typename T>
  const T& as() const { return std::get<T>(value); }  // std::bad_variant_access on mismatch
  friend bool operator==(const GgufValue&, const GgufValue&) = default;
};

// An array of scalars or strings from a vector: gguf_array(std::vector<std::string>{...}).
template <typename T>
GgufArray gguf_array(const std::vector<T>& items) {
  GgufArray array{GgufValue(T{}).type(), {}};
  array.items.assign(items.begin(), items.end());
  return array;
}

struct GgufTensorInfo {
  GgmlType type = GgmlType::f32;
  std::vector<uint64_t> dims;  // ggml ne order: dims[0] moves fastest; at most 4
  uint64_t offset = 0;         // into the data section
  uint64_t bytes = 0;
  uint64_t elements() const;
};

class GgufReader {
 public:
  explicit GgufReader(const std::string& path);
  GgufReader(const GgufReader&) = delete;
  GgufReader& operator=(const GgufReader&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }

  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* find(const std::string& key) const;  // nullptr when absent
  const GgufValue& value(const std::string& key) const;  // throws naming file and key
  template <typename T>
  const T& get(const std::string& key) const {  // throws naming file, key and both types
    const GgufValue& v = value(key);
    if (!v.is<T>()) type_mismatch(key, GgufValue(T{}).type());
    return v.as<T>();
  }
  // Any integer type (files disagree on u32 vs u64 for counts); throws if negative.
  uint64_t get_unsigned(const std::string& key) const;

  const std::map<std::string, GgufTensorInfo>& tensors() const { return tensors_; }
  const std::vector<std::string>& tensor_names() const { return names_; }  // in file order
  const GgufTensorInfo& tensor(const std::string& name) const;  // throws naming file and tensor
  std::span<const std::byte> data(const std::string& name) const;

 private:
  [[noreturn]] void type_mismatch(const std::string& key, GgufType wanted) const;

  std::string path_;
  MappedFile file_;
  size_t data_start_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> metadata_;
  std::map<std::string, GgufTensorInfo> tensors_;
  std::vector<std::string> names_;
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::f32;
  std::vector<uint64_t> dims;  // ggml ne order, 1 to 4 of them
  std::span<const std::byte> bytes;
};

// Writes GGUF v3. The alignment is metadata's `general.alignment` (must be a u32 power of two)
// or 32. Tensors are laid out in the order given.
void write_gguf(const std::string& path, const std::vector<GgufTensor>& tensors,
                const std::map<std::string, GgufValue>& metadata);

}  // namespace vktrain::io

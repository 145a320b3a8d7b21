#include "io/gguf.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/error.hpp"
#include "io/file.hpp"

namespace vktrain::io {
namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kMaxDims = 4;          // ggml's GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;
// Arrays of arrays deeper than this are no model's metadata, and recursion must stay bounded.
constexpr int kMaxNesting = 8;
// A decoded item takes ~40 bytes however small its encoding, so a byte-sized claim is not enough
// to bound memory: one array holds at most a vocabulary's worth (real ones stay under a million
// entries), and all arrays together a few vocabularies' (tokens, scores, types, merges).
constexpr uint64_t kMaxArrayItems = 1ull << 22;
constexpr uint64_t kMaxTotalItems = 1ull << 24;
// Real files hold tens of metadata entries and at most a few thousand tensors.
constexpr uint64_t kMaxEntries = 1ull << 16;
// The fewest bytes a metadata entry (key length, a 1-byte key, type, a 1-byte value) and a tensor
// info (name length, n_dims, type, offset) can take: counts beyond remaining / these are lies.
constexpr uint64_t kMinEntryBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

bool known_type(uint32_t type) { return type <= uint32_t(GgufType::f64); }

// Bytes the smallest encoded item of `type` occupies: a scalar's size, an empty string's length,
// an empty array's element type and count.
uint64_t min_item_bytes(GgufType type) {
  switch (type) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::string: case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    case GgufType::array: return 12;
  }
  return 1;
}

// Elements and bytes of a tensor, with the checks a reader and a writer both need.
uint64_t tensor_bytes(const std::string& path, const std::string& name, uint32_t type,
                      const std::vector<uint64_t>& dims) {
  GgmlBlock block = ggml_block(GgmlType(type));
  if (!block.elements) fail("[gguf] {}: tensor '{}' has unknown ggml type {}", path, name, type);
  uint64_t elements = 1;
  for (uint64_t d : dims) {
    if (d > uint64_t(INT64_MAX) || (d != 0 && elements > uint64_t(INT64_MAX) / d))
      fail("[gguf] {}: tensor '{}' has dimensions whose product overflows 63 bits", path, name);
    elements *= d;
  }
  const uint64_t row = dims.empty() ? 1 : dims[0];  // no dims: a scalar, as ggml's ne = {1,1,1,1}
  if (row % block.elements)
    fail("[gguf] {}: tensor '{}' rows of {} values are not a whole number of {}-value {} blocks",
         path, name, row, block.elements, ggml_type_name(GgmlType(type)));
  return elements / block.elements * block.bytes;  // blocks <= 2^63 / 32, bytes <= 292 each
}

// Reads little-endian fields from the mapped file. Every read first checks that the bytes are
// there; `field` names what is being read for the error.
struct Cursor {
  const std::string& path;
  const std::byte* data;
  size_t size;
  size_t pos = 0;
  uint64_t items = 0;  // array items decoded so far, against kMaxTotalItems

  uint64_t remaining() const { return size - pos; }

  void need(uint64_t bytes, std::string_view field) const {
    if (bytes > remaining())
      fail("[gguf] {}: truncated: {} needs {} bytes at offset {}, the file has {} left", path,
           field, bytes, pos, remaining());
  }

  template <typename T>
  T read(std::string_view field) {
    need(sizeof(T), field);
    T value;
    std::memcpy(&value, data + pos, sizeof(T));
    pos += sizeof(T);
    return value;
  }

  std::string read_string(std::string_view field) {
    uint64_t length = read<uint64_t>(field);
    if (length > remaining())
      fail("[gguf] {}: {} has a string length of {} bytes at offset {}, but only {} bytes remain "
           "(corrupt or truncated file?)",
           path, field, length, pos - 8, remaining());
    std::string text(reinterpret_cast<const char*>(data + pos), size_t(length));
    pos += length;
    return text;
  }

  GgufValue read_value(GgufType type, std::string_view field, int depth) {
    switch (type) {
      case GgufType::u8: return read<uint8_t>(field);
      case GgufType::i8: return read<int8_t>(field);
      case GgufType::u16: return read<uint16_t>(field);
      case GgufType::i16: return read<int16_t>(field);
      case GgufType::u32: return read<uint32_t>(field);
      case GgufType::i32: return read<int32_t>(field);
      case GgufType::f32: return read<float>(field);
      case GgufType::boolean: return read<uint8_t>(field) != 0;  // as llama.cpp: nonzero is true
      case GgufType::string: return read_string(field);
      case GgufType::u64: return read<uint64_t>(field);
      case GgufType::i64: return read<int64_t>(field);
      case GgufType::f64: return read<double>(field);
      case GgufType::array: return read_array(field, depth);
    }
    fail("[gguf] {}: {} has unknown value type {}", path, field, uint32_t(type));
  }

  GgufArray read_array(std::string_view field, int depth) {
    if (depth >= kMaxNesting)
      fail("[gguf] {}: {} nests arrays more than {} deep", path, field, kMaxNesting);
    uint32_t type = read<uint32_t>(field);
    if (!known_type(type))
      fail("[gguf] {}: {} is an array of unknown value type {}", path, field, type);
    uint64_t count = read<uint64_t>(field);
    uint64_t fits = remaining() / min_item_bytes(GgufType(type));
    if (count > fits || count > kMaxArrayItems)
      fail("[gguf] {}: {} claims an array count of {} {} items, but the {} bytes that remain "
           "hold at most {} (limit {}; corrupt or truncated file?)",
           path, field, count, gguf_type_name(GgufType(type)), remaining(), fits, kMaxArrayItems);
    items += count;
    if (items > kMaxTotalItems)
      fail("[gguf] {}: {} brings the metadata arrays to {} items, more than the {} vktrain reads "
           "(corrupt or hostile file?)",
           path, field, items, kMaxTotalItems);
    GgufArray array{GgufType(type), {}};
    array.items.reserve(size_t(count));
    for (uint64_t i = 0; i < count; ++i)
      array.items.push_back(read_value(GgufType(type), field, depth + 1));
    return array;
  }
};

// Appends the encoding of values to a byte string; checks what a well-formed file needs.
struct Encoder {
  const std::string& path;
  std::string out;

  template <typename T>
  void put(T value) {
    out.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put_string(std::string_view text) {
    put<uint64_t>(text.size());
    out.append(text);
  }
  void put_value(const GgufValue& value, const std::string& key) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            put_string(v);
          } else if constexpr (std::is_same_v<T, GgufArray>) {
            put<uint32_t>(uint32_t(v.type));
            put<uint64_t>(v.items.size());
            for (const auto& item : v.items) {
              if (item.type() != v.type)
                fail("[gguf] {}: metadata '{}' is an array of {} holding a {}", path, key,
                     gguf_type_name(v.type), gguf_type_name(item.type()));
              put_value(item, key);
            }
          } else if constexpr (std::is_same_v<T, bool>) {
            put<uint8_t>(v ? 1 : 0);
          } else {
            put<T>(v);
          }
        },
        value.value);
  }
};

uint64_t alignment_from(const std::string& path, const std::map<std::string, GgufValue>& metadata) {
  auto it = metadata.find("general.alignment");
  if (it == metadata.end()) return kDefaultAlignment;
  if (!it->second.is<uint32_t>())
    fail("[gguf] {}: general.alignment must be a u32, it is a {}", path,
         gguf_type_name(it->second.type()));
  uint32_t a = it->second.as<uint32_t>();
  if (a == 0 || (a & (a - 1)))
    fail("[gguf] {}: general.alignment {} is not a power of two", path, a);
  return a;
}

}  // namespace

std::string_view gguf_type_name(GgufType type) {
  static constexpr std::string_view names[] = {"u8",   "i8",     "u16",   "i16", "u32",
                                               "i32",  "f32",    "bool",  "string", "array",
                                               "u64",  "i64",    "f64"};
  return known_type(uint32_t(type)) ? names[uint32_t(type)] : "unknown";
}

uint64_t GgufTensorInfo::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

GgufReader::GgufReader(const std::string& path) : path_(path), file_(path, "gguf") {
  if (file_.size() < 8)
    fail("[gguf] {}: truncated: {} bytes, shorter than the magic and version", path,
         file_.size());
  {
    Cursor in{path_, file_.data(), file_.size()};
    auto magic = in.read<std::array<char, 4>>("the magic");
    if (std::memcmp(magic.data(), kMagic, 4) != 0)
      fail("[gguf] {}: not a GGUF file (the first bytes are not \"GGUF\")", path);
    version_ = in.read<uint32_t>("the version");
    if (version_ == 1)
      fail("[gguf] {}: GGUF version 1 is not supported; convert the model again with a current "
           "llama.cpp",
           path);
    if (version_ != 2 && version_ != 3)
      fail("[gguf] {}: unsupported GGUF version {} (vktrain reads versions 2 and 3{})", path,
           version_, (version_ & 0xFFFF) == 0 ? "; this looks like a big-endian file" : "");
    uint64_t n_tensors = in.read<uint64_t>("the tensor count");
    uint64_t n_metadata = in.read<uint64_t>("the metadata count");
    if (n_metadata > in.remaining() / kMinEntryBytes)
      fail("[gguf] {}: the metadata count {} cannot fit the {} bytes that remain (corrupt or "
           "truncated file?)", path,
           n_metadata, in.remaining());
    if (n_tensors > in.remaining() / kMinTensorInfoBytes)
      fail("[gguf] {}: the tensor count {} cannot fit the {} bytes that remain (corrupt or "
           "truncated file?)", path,
           n_tensors, in.remaining());
    if (n_metadata > kMaxEntries || n_tensors > kMaxEntries)
      fail("[gguf] {}: {} metadata entries and {} tensors; vktrain reads at most {} of each "
           "(corrupt or hostile file?)",
           path, n_metadata, n_tensors, kMaxEntries);

    for (uint64_t i = 0; i < n_metadata; ++i) {
      std::string key = in.read_string(fmt::format("the key of metadata entry {}", i));
      std::string field = fmt::format("metadata '{}'", key);
      if (key.empty()) fail("[gguf] {}: metadata entry {} has an empty key", path, i);
      if (metadata_.count(key)) fail("[gguf] {}: {} appears twice", path, field);
      uint32_t type = in.read<uint32_t>(field);
      if (!known_type(type)) fail("[gguf] {}: {} has unknown value type {}", path, field, type);
      metadata_.emplace(key, in.read_value(GgufType(type), field, 0));
    }
    alignment_ = alignment_from(path, metadata_);

    for (uint64_t i = 0; i < n_tensors; ++i) {
      std::string name = in.read_string(fmt::format("the name of tensor {}", i));
      std::string field = fmt::format("tensor '{}'", name);
      if (tensors_.count(name)) fail("[gguf] {}: {} appears twice", path, field);
      GgufTensorInfo info;
      uint32_t n_dims = in.read<uint32_t>(field);
      if (n_dims > kMaxDims)
        fail("[gguf] {}: {} has {} dimensions, at most {} are allowed", path, field, n_dims,
             kMaxDims);
      for (uint32_t d = 0; d < n_dims; ++d) info.dims.push_back(in.read<uint64_t>(field));
      uint32_t type = in.read<uint32_t>(field);
      info.bytes = tensor_bytes(path, name, type, info.dims);
      info.type = GgmlType(type);
      info.offset = in.read<uint64_t>(field);
      tensors_.emplace(name, std::move(info));
      names_.push_back(std::move(name));
    }

    data_start_ = size_t(std::min<uint64_t>(align_up(in.pos, alignment_), file_.size()));
    uint64_t data_bytes = file_.size() - data_start_;
    std::vector<std::pair<uint64_t, const std::string*>> by_offset;
    for (const auto& [name, info] : tensors_) {
      if (info.offset % alignment_)
        fail("[gguf] {}: tensor '{}' offset {} is not a multiple of the alignment {}", path, name,
             info.offset, alignment_);
      if (info.offset > data_bytes || info.bytes > data_bytes - info.offset)
        fail("[gguf] {}: tensor '{}' data [{}, +{}) lies outside the {}-byte data section "
             "(truncated file?)",
             path, name, info.offset, info.bytes, data_bytes);
      by_offset.emplace_back(info.offset, &name);
    }
    std::sort(by_offset.begin(), by_offset.end());
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const auto& previous = tensors_.at(*by_offset[i - 1].second);
      if (previous.offset + previous.bytes > by_offset[i].first)
        fail("[gguf] {}: tensors '{}' and '{}' overlap", path, *by_offset[i - 1].second,
             *by_offset[i].second);
    }
  }
}

const GgufValue* GgufReader::find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufValue& GgufReader::value(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) fail("[gguf] {} has no metadata '{}'", path_, key);
  return *v;
}

void GgufReader::type_mismatch(const std::string& key, GgufType wanted) const {
  fail("[gguf] {}: metadata '{}' is a {}, expected a {}", path_, key,
       gguf_type_name(value(key).type()), gguf_type_name(wanted));
}

uint64_t GgufReader::get_unsigned(const std::string& key) const {
  const GgufValue& v = value(key);
  return std::visit(
      [&](const auto& x) -> uint64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if (x < 0) fail("[gguf] {}: metadata '{}' is negative ({})", path_, key, int64_t(x));
          return uint64_t(x);
        } else {
          fail("[gguf] {}: metadata '{}' is a {}, expected an integer", path_, key,
               gguf_type_name(v.type()));
        }
      },
      v.value);
}

const GgufTensorInfo& GgufReader::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("[gguf] {} has no tensor '{}'", path_, name);
  return it->second;
}

std::span<const std::byte> GgufReader::data(const std::string& name) const {
  const GgufTensorInfo& info = tensor(name);
  return {file_.data() + data_start_ + info.offset, size_t(info.bytes)};
}

void write_gguf(const std::string& path, const std::vector<GgufTensor>& tensors,
                const std::map<std::string, GgufValue>& metadata) {
  const uint64_t alignment = alignment_from(path, metadata);
  Encoder header{path, {}};
  header.out.append(kMagic, 4);
  header.put<uint32_t>(3);
  header.put<uint64_t>(tensors.size());
  header.put<uint64_t>(metadata.size());
  for (const auto& [key, value] : metadata) {
    if (key.empty()) fail("[gguf] {}: a metadata key is empty", path);
    header.put_string(key);
    header.put<uint32_t>(uint32_t(value.type()));
    header.put_value(value, key);
  }
  uint64_t offset = 0;
  std::vector<std::string_view> seen;
  for (const auto& t : tensors) {
    if (t.name.empty()) fail("[gguf] {}: a tensor has an empty name", path);
    if (std::find(seen.begin(), seen.end(), t.name) != seen.end())
      fail("[gguf] {}: tensor '{}' appears twice", path, t.name);
    seen.push_back(t.name);
    if (t.dims.empty() || t.dims.size() > kMaxDims)
      fail("[gguf] {}: tensor '{}' has {} dimensions, it needs 1 to {}", path, t.name,
           t.dims.size(), kMaxDims);
    uint64_t bytes = tensor_bytes(path, t.name, uint32_t(t.type), t.dims);
    if (bytes != t.bytes.size())
      fail("[gguf] {}: tensor '{}' has {} bytes, its shape as {} needs {}", path, t.name,
           t.bytes.size(), ggml_type_name(t.type), bytes);
    header.put_string(t.name);
    header.put<uint32_t>(uint32_t(t.dims.size()));
    for (uint64_t d : t.dims) header.put<uint64_t>(d);
    header.put<uint32_t>(uint32_t(t.type));
    header.put<uint64_t>(offset);
    offset = align_up(offset + bytes, alignment);
  }
  const std::string zeros(alignment, '\0');
  auto pad = [&](std::ofstream& out, uint64_t written) {
    out.write(zeros.data(), std::streamsize(align_up(written, alignment) - written));
  };

  write_file_atomically(path, "gguf", [&](std::ofstream& out) {
    out.write(header.out.data(), std::streamsize(header.out.size()));
    if (!tensors.empty()) pad(out, header.out.size());
    for (const auto& t : tensors) {
      out.write(reinterpret_cast<const char*>(t.bytes.data()), std::streamsize(t.bytes.size()));
      pad(out, t.bytes.size());
    }
  });
}

}  // namespace vktrain::io

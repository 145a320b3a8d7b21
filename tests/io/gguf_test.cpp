#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "io/gguf.hpp"
#include "io/quant.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::GgmlType;
using io::GgufArray;
using io::GgufType;
using io::GgufValue;
namespace fs = std::filesystem;

namespace {

// A GGUF file built field by field, for inputs our writer would refuse to produce.
struct RawFile {
  std::string bytes;
  template <typename T>
  RawFile& put(T value) {
    bytes.append(reinterpret_cast<const char*>(&value), sizeof(T));
    return *this;
  }
  RawFile& text(std::string_view s) {
    put<uint64_t>(s.size());
    bytes.append(s);
    return *this;
  }
  void save(const std::string& path) const {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
};

RawFile header(uint64_t tensors, uint64_t metadata, uint32_t version = 3) {
  RawFile f;
  f.bytes = "GGUF";
  f.put(version).put(tensors).put(metadata);
  return f;
}

// One tensor info: name, dims, ggml type, offset.
RawFile& tensor_info(RawFile& f, std::string_view name, std::vector<uint64_t> dims, uint32_t type,
                     uint64_t offset) {
  f.text(name).put(uint32_t(dims.size()));
  for (uint64_t d : dims) f.put(d);
  return f.put(type).put(offset);
}

std::vector<std::byte> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string open_error(const std::string& path) {
  return test::error_message([&] { io::GgufReader reader(path); });
}

// Saves `f` at `path`; opening it must fail with one message that names the file and holds
// `needle`.
void expect_open_error(const RawFile& f, const std::string& path, const std::string& needle) {
  f.save(path);
  auto message = open_error(path);
  EXPECT_NE(message.find("[gguf] " + path), std::string::npos) << message;
  EXPECT_NE(message.find(needle), std::string::npos) << message;
}

std::map<std::string, GgufValue> every_type_metadata() {
  GgufArray nested{GgufType::array, {}};
  nested.items.push_back(io::gguf_array(std::vector<uint8_t>{1, 2, 3}));
  nested.items.push_back(io::gguf_array(std::vector<uint8_t>{}));
  GgufArray nested_strings{GgufType::array, {}};
  nested_strings.items.push_back(io::gguf_array(std::vector<std::string>{"a", ""}));
  GgufArray deep{GgufType::array, {GgufValue(nested)}};
  return {
      {"general.architecture", "llama"},
      {"general.alignment", uint32_t(64)},
      {"t.u8", uint8_t(200)},
      {"t.i8", int8_t(-100)},
      {"t.u16", uint16_t(60000)},
      {"t.i16", int16_t(-30000)},
      {"t.u32", uint32_t(4000000000u)},
      {"t.i32", int32_t(-2000000000)},
      {"t.f32", 1.25f},
      {"t.bool.true", true},
      {"t.bool.false", false},
      {"t.string", "héllo wörld"},
      {"t.empty_string", ""},
      {"t.u64", uint64_t(1) << 60},
      {"t.i64", -(int64_t(1) << 60)},
      {"t.f64", 3.141592653589793},
      {"t.strings", io::gguf_array(std::vector<std::string>{"<s>", "</s>", "", "▁the"})},
      {"t.i32s", io::gguf_array(std::vector<int32_t>{-1, 0, 7})},
      {"t.f32s", io::gguf_array(std::vector<float>{0.5f, -2.0f})},
      {"t.bools", io::gguf_array(std::vector<bool>{true, false, true})},
      {"t.empty", io::gguf_array(std::vector<double>{})},
      {"t.nested", nested},
      {"t.nested_strings", nested_strings},
      {"t.deep", deep},
  };
}

}  // namespace

TEST(Gguf, WriteThenReadKeepsEveryMetadataTypeAlignmentAndTensorBytes) {
  test::TempDir dir;
  std::string path = dir.file("model.gguf");
  auto metadata = every_type_metadata();
  std::vector<float> w = test::random_values(5 * 3, 1);
  std::vector<float> k = test::random_values(256, 2);
  std::vector<std::byte> k_q4 = io::quantize(k, GgmlType::q4_k);
  std::vector<uint16_t> h = {1, 2, 3, 4, 5, 6, 7};  // 14 bytes: the next tensor needs padding
  io::write_gguf(path,
                 {{"blk.0.attn_q.weight", GgmlType::f32, {5, 3}, std::as_bytes(std::span(w))},
                  {"norm.f16", GgmlType::f16, {7}, std::as_bytes(std::span(h))},
                  {"blk.0.ffn_up.weight", GgmlType::q4_k, {256, 1}, k_q4}},
                 metadata);
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  io::GgufReader reader(path);
  EXPECT_EQ(reader.version(), 3u);
  EXPECT_EQ(reader.alignment(), 64u);
  EXPECT_EQ(reader.metadata(), metadata);
  EXPECT_EQ(reader.get<std::string>("t.string"), "héllo wörld");
  EXPECT_EQ(reader.get<GgufArray>("t.strings").items[3].as<std::string>(), "▁the");
  EXPECT_EQ(reader.get<GgufArray>("t.deep").items[0].as<GgufArray>().items[0]
                .as<GgufArray>().items[2].as<uint8_t>(), 3);
  EXPECT_EQ(reader.get_unsigned("t.u16"), 60000u);
  EXPECT_NE(test::error_message([&] { reader.get_unsigned("t.i8"); }).find("negative"),
            std::string::npos);
  auto mismatch = test::error_message([&] { reader.get<std::string>("t.u32"); });
  EXPECT_NE(mismatch.find("metadata 't.u32' is a u32, expected a string"), std::string::npos)
      << mismatch;
  EXPECT_NE(test::error_message([&] { reader.value("missing"); }).find("no metadata 'missing'"),
            std::string::npos);

  EXPECT_EQ(reader.tensor_names(),
            (std::vector<std::string>{"blk.0.attn_q.weight", "norm.f16", "blk.0.ffn_up.weight"}));
  const auto& q = reader.tensor("blk.0.attn_q.weight");
  EXPECT_EQ(q.type, GgmlType::f32);
  EXPECT_EQ(q.dims, (std::vector<uint64_t>{5, 3}));
  EXPECT_EQ(q.elements(), 15u);
  EXPECT_EQ(reader.tensor("blk.0.ffn_up.weight").bytes, 144u);
  for (const auto& [name, info] : reader.tensors()) {
    EXPECT_EQ(info.offset % 64, 0u) << name;
    // The map starts on a page, so the address's alignment is the file offset's.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(reader.data(name).data()) % 64, 0u) << name;
  }
  auto bytes = reader.data("blk.0.attn_q.weight");
  ASSERT_EQ(bytes.size(), w.size() * 4);
  EXPECT_EQ(std::memcmp(bytes.data(), w.data(), bytes.size()), 0);
  EXPECT_EQ(std::memcmp(reader.data("norm.f16").data(), h.data(), 14), 0);
  EXPECT_EQ(std::memcmp(reader.data("blk.0.ffn_up.weight").data(), k_q4.data(), 144), 0);
  EXPECT_NE(test::error_message([&] { reader.data("missing"); }).find("no tensor 'missing'"),
            std::string::npos);
}

TEST(Gguf, RewritingWhatWasReadGivesTheSameFile) {
  test::TempDir dir;
  std::vector<float> w = test::random_values(64, 3);
  std::vector<std::byte> q8 = io::quantize(w, GgmlType::q8_0);
  std::string first = dir.file("first.gguf"), second = dir.file("second.gguf");
  io::write_gguf(first, {{"a", GgmlType::q8_0, {32, 2}, q8}, {"b", GgmlType::f32, {3},
                         std::as_bytes(std::span(w).first(3))}},
                 every_type_metadata());
  {
    io::GgufReader reader(first);
    std::vector<io::GgufTensor> tensors;
    for (const auto& name : reader.tensor_names()) {
      const auto& info = reader.tensor(name);
      tensors.push_back({name, info.type, info.dims, reader.data(name)});
    }
    io::write_gguf(second, tensors, reader.metadata());
  }
  EXPECT_EQ(file_bytes(first), file_bytes(second));
}

TEST(Gguf, DefaultAlignmentIs32AndVersion2Reads) {
  test::TempDir dir;
  std::string path = dir.file("v2.gguf");
  std::vector<uint8_t> a(5, 7), b(40, 9);
  io::write_gguf(path, {{"a", GgmlType::i8, {5}, std::as_bytes(std::span(a))},
                        {"b", GgmlType::i8, {8, 5}, std::as_bytes(std::span(b))}},
                 {{"general.name", "tiny"}});
  auto written = file_bytes(path);
  RawFile f{std::string(reinterpret_cast<const char*>(written.data()), written.size())};
  f.bytes[4] = 2;  // the version field; v2 and v3 share the layout
  f.save(path);
  io::GgufReader reader(path);
  EXPECT_EQ(reader.version(), 2u);
  EXPECT_EQ(reader.alignment(), 32u);
  EXPECT_EQ(reader.tensor("b").offset, 32u);
  EXPECT_EQ(std::memcmp(reader.data("b").data(), b.data(), 40), 0);
}

TEST(Gguf, TruncatedFileAtEveryLengthIsAClearError) {
  test::TempDir dir;
  std::string whole = dir.file("whole.gguf"), cut = dir.file("cut.gguf");
  std::vector<float> w = test::random_values(8, 4);  // 32 bytes: no padding after the data
  io::write_gguf(whole, {{"w", GgmlType::f32, {8}, std::as_bytes(std::span(w))}},
                 {{"general.architecture", "llama"},
                  {"tokens", io::gguf_array(std::vector<std::string>{"a", "bc"})}});
  auto bytes = file_bytes(whole);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::ofstream(cut, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(n));
    auto message = open_error(cut);
    ASSERT_NE(message.find("[gguf] " + cut), std::string::npos) << n << ": " << message;
    ASSERT_NE(message.find("truncated"), std::string::npos) << n << ": " << message;
  }
}

TEST(Gguf, WrongMagicIsAClearError) {
  test::TempDir dir;
  RawFile f = header(0, 0);
  f.bytes[0] = 'X';
  expect_open_error(f, dir.file("bad.gguf"), "not a GGUF file");
}

TEST(Gguf, UnsupportedVersionIsAClearError) {
  test::TempDir dir;
  std::string p = dir.file("bad.gguf");
  expect_open_error(header(0, 0, 4), p, "unsupported GGUF version 4");
  expect_open_error(header(0, 0, 1), p, "version 1 is not supported");
  expect_open_error(header(0, 0, 3u << 24), p, "big-endian");  // v3 written big-endian
}

TEST(Gguf, HugeTensorCountIsAClearError) {
  test::TempDir dir;
  std::string p = dir.file("bad.gguf");
  expect_open_error(header(1ull << 60, 0), p, "the tensor count 1152921504606846976 cannot fit");
  expect_open_error(header(0, 1ull << 60), p, "the metadata count 1152921504606846976");
}

TEST(Gguf, HugeStringLengthIsAClearError) {
  test::TempDir dir;
  std::string p = dir.file("bad.gguf");
  RawFile value = header(0, 1);
  value.text("general.name").put(uint32_t(GgufType::string)).put(uint64_t(1) << 60);
  value.bytes += "short";
  expect_open_error(value, p,
                    "metadata 'general.name' has a string length of 1152921504606846976 bytes");
  // The same for a key and for a tensor name.
  RawFile key = header(0, 1);
  key.put(uint64_t(1) << 60).bytes += "abcdefghijklmnop";
  expect_open_error(key, p, "the key of metadata entry 0 has a string length");
  RawFile name = header(1, 0);
  name.put(uint64_t(1) << 60).bytes += std::string(40, 'x');
  expect_open_error(name, p, "the name of tensor 0 has a string length");
}

TEST(Gguf, HugeArrayCountIsAClearError) {
  test::TempDir dir;
  std::string p = dir.file("bad.gguf");
  RawFile f = header(0, 1);
  f.text("tokenizer.ggml.tokens").put(uint32_t(GgufType::array));
  f.put(uint32_t(GgufType::string)).put(uint64_t(1) << 60);
  f.text("a").text("b");
  expect_open_error(f, p, "metadata 'tokenizer.ggml.tokens' claims an array count of "
                          "1152921504606846976 string items");
  // Arrays nested past any real use are refused before they exhaust the stack.
  RawFile deep = header(0, 1);
  deep.text("deep").put(uint32_t(GgufType::array));
  for (int i = 0; i < 100; ++i) deep.put(uint32_t(GgufType::array)).put(uint64_t(1));
  expect_open_error(deep, p, "metadata 'deep' nests arrays more than");
}

// Issue 14: arrays whose bytes are all there but whose decoded items would take gigabytes (an item
// takes ~40 bytes however small its encoding) are refused, one at a time and all together.
TEST(Gguf, ArraysBeyondAVocabularysWorthAreRefused) {
  test::TempDir dir;
  std::string p = dir.file("big.gguf");
  RawFile one = header(0, 1);
  one.text("tokenizer.ggml.tokens").put(uint32_t(GgufType::array));
  one.put(uint32_t(GgufType::u8)).put(uint64_t(1) << 23).bytes += std::string(1 << 23, '\0');
  expect_open_error(one, p, "claims an array count of 8388608 u8 items");
  RawFile many = header(0, 5);
  for (int i = 0; i < 5; ++i) {
    many.text("a" + std::to_string(i)).put(uint32_t(GgufType::array));
    many.put(uint32_t(GgufType::u8)).put(uint64_t(1) << 22).bytes += std::string(1 << 22, '\0');
  }
  expect_open_error(many, p, "metadata 'a4' brings the metadata arrays to 20971520 items");
  // Real tokenizer arrays (a million strings) still read.
  RawFile real = header(0, 1);
  real.text("tokenizer.ggml.tokens").put(uint32_t(GgufType::array));
  real.put(uint32_t(GgufType::string)).put(uint64_t(1) << 20);
  for (int i = 0; i < (1 << 20); ++i) real.text("t");
  real.save(p);
  EXPECT_EQ(io::GgufReader(p).get<GgufArray>("tokenizer.ggml.tokens").items.size(), 1u << 20);
  RawFile tensors = header(1ull << 17, 0);
  tensors.bytes += std::string(24 << 17, '\0');  // room for as many tensor infos
  expect_open_error(tensors, p, "vktrain reads at most 65536 of each");
}

TEST(Gguf, TensorOffsetOutOfRangeIsAClearError) {
  test::TempDir dir;
  std::string p = dir.file("bad.gguf");
  RawFile f = header(1, 0);
  tensor_info(f, "blk.0.attn_k.weight", {4, 2}, 0, 64);  // 32 bytes at 64, the file has 32
  f.bytes.resize((f.bytes.size() + 31) / 32 * 32 + 32, '\0');
  expect_open_error(f, p, "tensor 'blk.0.attn_k.weight' data [64, +32) lies outside the 32-byte "
                          "data section");
  RawFile misaligned = header(1, 0);
  tensor_info(misaligned, "t", {1}, 0, 4);
  misaligned.bytes.resize(256, '\0');
  expect_open_error(misaligned, p, "tensor 't' offset 4 is not a multiple of the alignment 32");
  RawFile overlap = header(2, 0);
  tensor_info(overlap, "a", {16}, 0, 0);
  tensor_info(overlap, "b", {16}, 0, 32);
  overlap.bytes.resize(512, '\0');
  expect_open_error(overlap, p, "tensors 'a' and 'b' overlap");
}

TEST(Gguf, UnknownGgmlTypeNamesTheTensor) {
  test::TempDir dir;
  RawFile f = header(1, 0);
  tensor_info(f, "output.weight", {32}, 99, 0);
  f.bytes.resize(256, '\0');
  expect_open_error(f, dir.file("bad.gguf"), "tensor 'output.weight' has unknown ggml type 99");
}

TEST(Gguf, BadShapesAreClearErrors) {
  test::TempDir dir;
  auto expect = [&](std::vector<uint64_t> dims, uint32_t type, const std::string& needle) {
    RawFile f = header(1, 0);
    tensor_info(f, "w", dims, type, 0);
    f.bytes.resize(512, '\0');
    expect_open_error(f, dir.file("bad.gguf"), needle);
  };
  expect({1ull << 40, 1ull << 40}, 0, "tensor 'w' has dimensions whose product overflows");
  expect({1ull << 63}, 0, "overflows");
  expect({1, 1, 1, 1, 1}, 0, "tensor 'w' has 5 dimensions, at most 4");
  expect({48}, uint32_t(GgmlType::q8_0), "rows of 48 values are not a whole number of 32-value "
                                         "Q8_0 blocks");
  expect({}, uint32_t(GgmlType::q4_k), "rows of 1 values are not a whole number of 256-value");
}

TEST(Gguf, BadMetadataIsAClearError) {
  test::TempDir dir;
  std::string p = dir.file("bad.gguf");
  RawFile twice = header(0, 2);
  twice.text("k").put(uint32_t(GgufType::u8)).put(uint8_t(1));
  twice.text("k").put(uint32_t(GgufType::u8)).put(uint8_t(2));
  expect_open_error(twice, p, "metadata 'k' appears twice");
  RawFile type = header(0, 1);
  type.text("k").put(uint32_t(13)).put(uint64_t(0));
  expect_open_error(type, p, "metadata 'k' has unknown value type 13");
  RawFile alignment = header(0, 1);
  alignment.text("general.alignment").put(uint32_t(GgufType::u32)).put(uint32_t(48));
  expect_open_error(alignment, p, "general.alignment 48 is not a power of two");
}

TEST(Gguf, WriterRefusesInconsistentInputAndLeavesNoFile) {
  test::TempDir dir;
  std::string path = dir.file("out.gguf");
  std::vector<float> w(5);
  auto bytes = std::as_bytes(std::span(w));
  auto message = test::error_message(
      [&] { io::write_gguf(path, {{"w", GgmlType::f32, {2, 3}, bytes}}, {}); });
  EXPECT_NE(message.find("tensor 'w' has 20 bytes, its shape as F32 needs 24"), std::string::npos)
      << message;
  GgufArray mixed{GgufType::u8, {GgufValue(uint8_t(1)), GgufValue(2)}};
  message = test::error_message([&] { io::write_gguf(path, {}, {{"m", mixed}}); });
  EXPECT_NE(message.find("metadata 'm' is an array of u8 holding a i32"), std::string::npos)
      << message;
  message = test::error_message(
      [&] { io::write_gguf(path, {}, {{"general.alignment", uint64_t(32)}}); });
  EXPECT_NE(message.find("general.alignment must be a u32"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// Flipped bytes anywhere in a file either still read or end in a "[gguf] FILE: ..." error; the
// reader never crashes or allocates without bound.
TEST(Gguf, CorruptedBytesNeverCrash) {
  test::TempDir dir;
  std::string whole = dir.file("whole.gguf"), bad = dir.file("bad.gguf");
  std::vector<float> w = test::random_values(64, 5);
  io::write_gguf(whole, {{"w", GgmlType::q8_0, {32, 2}, io::quantize(w, GgmlType::q8_0)},
                         {"v", GgmlType::f32, {4}, std::as_bytes(std::span(w).first(4))}},
                 every_type_metadata());
  auto bytes = file_bytes(whole);
  std::mt19937 rng(1);
  size_t errors = 0;
  for (int trial = 0; trial < 200; ++trial) {
    auto copy = bytes;
    for (int flips = 0; flips < 1 + trial % 4; ++flips)
      copy[rng() % copy.size()] = std::byte(rng() & 0xFF);
    std::ofstream(bad, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(copy.data()), std::streamsize(copy.size()));
    auto message = test::error_message([&] {
      io::GgufReader reader(bad);
      for (const auto& name : reader.tensor_names()) (void)reader.data(name);
    });
    if (message.empty()) continue;
    ++errors;
    ASSERT_NE(message.find("[gguf] " + bad), std::string::npos) << message;
  }
  EXPECT_GT(errors, 0u);
}

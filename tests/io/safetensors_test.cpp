#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/safetensors.hpp"
#include "support/support.hpp"

using namespace vktrain;
namespace fs = std::filesystem;

namespace {

// A raw file: the 8-byte length, the header text as given, then `data` bytes.
void write_raw(const std::string& path, const std::string& header, size_t data, uint64_t length = 0) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = length ? length : header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header;
  out << std::string(data, '\x01');
}

std::string open_error(const std::string& path) {
  return test::error_message([&] { io::SafetensorsReader reader(path); });
}

}  // namespace

TEST(Safetensors, WriteThenReadRoundTrips) {
  test::TempDir dir;
  std::vector<float> w = test::random_values(6 * 5, 1);
  std::vector<uint16_t> h = {1, 2, 3, 65535};
  std::vector<int64_t> ids = {-7, 1ll << 40};
  std::string path = dir.file("model.safetensors");
  io::write_safetensors(path,
                        {{"layers.0.w", "F32", {6, 5}, std::as_bytes(std::span(w))},
                         {"norm", "BF16", {4}, std::as_bytes(std::span(h))},
                         {"ids", "I64", {2}, std::as_bytes(std::span(ids))}},
                        {{"format", "pt"}});
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  io::SafetensorsReader reader(path);
  ASSERT_EQ(reader.tensors().size(), 3u);
  EXPECT_EQ(reader.metadata().at("format"), "pt");
  EXPECT_EQ(reader.entry("layers.0.w").shape, (std::vector<int64_t>{6, 5}));
  EXPECT_EQ(reader.entry("norm").dtype, "BF16");
  auto bytes = reader.data("layers.0.w");
  ASSERT_EQ(bytes.size(), w.size() * 4);
  EXPECT_EQ(std::memcmp(bytes.data(), w.data(), bytes.size()), 0);
  EXPECT_EQ(std::memcmp(reader.data("ids").data(), ids.data(), 16), 0);
  // The header is padded so the data section starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  uint64_t header = 0;
  in.read(reinterpret_cast<char*>(&header), 8);
  EXPECT_EQ(header % 8, 0u);
  EXPECT_NE(test::error_message([&] { reader.entry("missing"); }).find("no tensor 'missing'"),
            std::string::npos);
}

TEST(Safetensors, BadFilesNameTheFileAndTheProblem) {
  test::TempDir dir;
  std::string p = dir.file("bad.safetensors");
  auto expect = [&](const std::string& needle) {
    auto message = open_error(p);
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_NE(message.find(p), std::string::npos) << message;
  };
  { std::ofstream(p, std::ios::binary) << "abc"; }
  expect("truncated");
  write_raw(p, "{}", 0, 1ull << 40);
  expect("header length");
  write_raw(p, "{\"a\": {\"dtype\": \"F32\", \"shape\": [2]", 8);
  expect("not valid JSON");
  write_raw(p, R"({"a": {"dtype": "Q9", "shape": [2], "data_offsets": [0, 8]}})", 8);
  expect("unknown dtype \"Q9\"");
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4);
  expect("outside the 4-byte data section");
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8);
  expect("does not fill its 8 bytes");
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12);
  expect("overlap");
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8);
  expect("gaps");
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [2]}})", 8);
  expect("lacks the field 'data_offsets'");
  write_raw(p, R"({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})", 8);
  expect("too large");
  expect("tensor 'a'");
  // Was a stack overflow in nlohmann's recursion (issue 14).
  write_raw(p, "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}", 0);
  expect("JSON nested deeper than 256");
  EXPECT_NE(open_error(dir.file("absent.safetensors")).find("cannot open"), std::string::npos);
}

TEST(Safetensors, WriterRefusesInconsistentTensorsAndLeavesNoFile) {
  test::TempDir dir;
  std::vector<float> w(5);
  std::string path = dir.file("out.safetensors");
  auto message = test::error_message([&] {
    io::write_safetensors(path, {{"w", "F32", {2, 3}, std::as_bytes(std::span(w))}});
  });
  EXPECT_NE(message.find("tensor 'w' has 20 bytes, its shape needs 24"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// Every block type against llama.cpp itself: tests/fixtures/quant holds rows quantized and
// dequantized by llama.cpp's own code (make_quant_fixtures.c, run by make_quant_fixtures.sh),
// and random blocks (every code, extreme f16 scales) with llama.cpp's decoding of them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "io/file.hpp"
#include "io/quant.hpp"
#include "support/support.hpp"

using namespace vktrain;
using io::GgmlType;

namespace {

constexpr size_t kRowLength = 256;  // as make_quant_fixtures.c writes them

constexpr GgmlType kLegacy[] = {GgmlType::q4_0, GgmlType::q4_1, GgmlType::q5_0, GgmlType::q5_1,
                                GgmlType::q8_0};
constexpr GgmlType kKQuants[] = {GgmlType::q2_k, GgmlType::q3_k, GgmlType::q4_k, GgmlType::q5_k,
                                 GgmlType::q6_k};
constexpr GgmlType kDecodedOnly[] = {GgmlType::iq4_nl, GgmlType::iq4_xs, GgmlType::mxfp4};

std::vector<std::byte> fixture_bytes(const std::string& name) {
  io::MappedFile file(std::string(VKTRAIN_FIXTURES) + "/quant/" + name, "quant fixture");
  return {file.data(), file.data() + file.size()};
}

std::vector<float> fixture_floats(const std::string& name) {
  auto bytes = fixture_bytes(name);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

std::string file_stem(GgmlType type) {
  std::string name(io::ggml_type_name(type));
  for (char& c : name) c = char(std::tolower(c));
  return name;
}

// Bit patterns, so that -0 differs from 0 and a NaN equals itself.
std::vector<uint32_t> bits(const std::vector<float>& values) {
  std::vector<uint32_t> out(values.size());
  std::memcpy(out.data(), values.data(), values.size() * sizeof(float));
  return out;
}

double rms_error(std::span<const float> got, std::span<const float> want) {
  double sum = 0;
  for (size_t i = 0; i < got.size(); ++i) sum += (got[i] - want[i]) * double(got[i] - want[i]);
  return std::sqrt(sum / double(got.size()));
}

void expect_decodes_as_llama_cpp(GgmlType type, const std::string& stem) {
  auto bytes = fixture_bytes(stem + ".bin");
  auto want = fixture_floats(stem + ".f32");
  ASSERT_EQ(io::ggml_row_bytes(type, want.size()), bytes.size()) << stem;
  EXPECT_EQ(bits(io::dequantize(bytes, type, want.size())), bits(want)) << stem;
}

}  // namespace

TEST(QuantTypes, DequantizeMatchesLlamaCppBitForBit) {
  for (auto group : {std::span<const GgmlType>(kLegacy), std::span<const GgmlType>(kKQuants)})
    for (GgmlType type : group) {
      expect_decodes_as_llama_cpp(type, file_stem(type));
      expect_decodes_as_llama_cpp(type, file_stem(type) + ".random");
    }
  for (GgmlType type : kDecodedOnly) {
    EXPECT_TRUE(io::can_dequantize(type));
    EXPECT_FALSE(io::can_quantize(type));
    expect_decodes_as_llama_cpp(type, file_stem(type) + ".random");
  }
}

TEST(QuantTypes, LegacyQuantizersMatchLlamaCppByteForByte) {
  const auto input = fixture_floats("input.f32");
  for (GgmlType type : kLegacy) {
    const auto want = fixture_bytes(file_stem(type) + ".bin");
    const auto got = io::quantize(input, type);
    ASSERT_EQ(got.size(), want.size());
    const size_t block = io::ggml_block(type).bytes;
    for (size_t b = 0; b < got.size() / block; ++b)
      EXPECT_EQ(std::memcmp(&got[b * block], &want[b * block], block), 0)
          << io::ggml_type_name(type) << " block " << b << " (row " << b * 32 / kRowLength << ")";
  }
}

// The bar is an RMS error within 1.05x llama.cpp's on every row (extreme, constant,
// sparse and one-signed rows included). The encoders follow llama.cpp's reference search step
// for step, so the blocks are in fact identical; both are checked.
TEST(QuantTypes, KQuantsMatchLlamaCppAndItsError) {
  const auto input = fixture_floats("input.f32");
  for (GgmlType type : kKQuants) {
    const std::string stem = file_stem(type);
    const auto theirs = fixture_floats(stem + ".f32");
    const auto encoded = io::quantize(input, type);
    const auto ours = io::dequantize(encoded, type, input.size());
    for (size_t row = 0; row < input.size() / kRowLength; ++row) {
      auto slice = [&](const std::vector<float>& v) {
        return std::span(v).subspan(row * kRowLength, kRowLength);
      };
      const double their_error = rms_error(slice(theirs), slice(input));
      EXPECT_LE(rms_error(slice(ours), slice(input)), 1.05 * their_error) << stem << " row " << row;
    }
    EXPECT_EQ(encoded, fixture_bytes(stem + ".bin")) << stem;
  }
}

// Gaussian weights through every type: the relative RMS error shrinks with the bits per value.
// The bounds are about 1.3x what the types reach on this data.
TEST(QuantTypes, RoundTripErrorShrinksWithBits) {
  const auto x = test::random_values(kRowLength * 16, 21);
  auto relative = [&](GgmlType type) {
    auto y = io::dequantize(io::quantize(x, type), type, x.size());
    double norm = 0;
    for (float v : x) norm += double(v) * v;
    return rms_error(y, x) / std::sqrt(norm / double(x.size()));
  };
  const std::pair<GgmlType, double> bounds[] = {{GgmlType::q8_0, 0.01}, {GgmlType::q6_k, 0.03},
                                                {GgmlType::q5_1, 0.05}, {GgmlType::q5_0, 0.05},
                                                {GgmlType::q5_k, 0.05}, {GgmlType::q4_1, 0.1},
                                                {GgmlType::q4_0, 0.1},  {GgmlType::q4_k, 0.1},
                                                {GgmlType::q3_k, 0.2},  {GgmlType::q2_k, 0.4}};
  for (auto [type, bound] : bounds) EXPECT_LT(relative(type), bound) << io::ggml_type_name(type);
}

TEST(QuantTypes, BadSizesAndValuesFailWithOneClearError) {
  std::vector<float> values(kRowLength, 0.5f);
  std::vector<std::byte> short_buffer(83);
  auto message = test::error_message([&] { io::dequantize(values, short_buffer, GgmlType::q2_k); });
  EXPECT_NE(message.find("[quant] dequantize: 256 Q2_K values need 84 bytes, the buffer has 83"),
            std::string::npos)
      << message;
  message = test::error_message([&] { io::quantize(std::span(values).first(40), GgmlType::q5_1); });
  EXPECT_NE(
      message.find("[quant] a Q5_1 row of 40 values is not a whole number of 32-value blocks"),
      std::string::npos)
      << message;
  message =
      test::error_message([&] { io::quantize(std::span(values).first(128), GgmlType::q3_k); });
  EXPECT_NE(message.find("[quant] a Q3_K row of 128 values is not a whole number of 256-value"),
            std::string::npos)
      << message;
  values[3] = std::nanf("");
  message = test::error_message([&] { io::quantize(values, GgmlType::q4_k); });
  EXPECT_NE(message.find("[quant] quantize to Q4_K: value 3 is nan"), std::string::npos) << message;
  values[3] = 1e10f;  // a Q8_0 step of 1e10 / 127 is past f16's largest value
  message = test::error_message([&] { io::quantize(values, GgmlType::q8_0); });
  EXPECT_NE(message.find("[quant] quantize: a block scale of"), std::string::npos) << message;
  EXPECT_NE(message.find("does not fit in f16"), std::string::npos) << message;
}

// A tensor of many blocks is encoded in ranges on several threads: the same bytes as block by
// block, and an error in any range still reaches the caller as the one error.
TEST(QuantTypes, LargeTensorsEncodeAsBlockByBlock) {
  auto x = test::random_values(32 * 4096 * 3 + 32 * 5, 22);
  const auto whole = io::quantize(x, GgmlType::q8_0);
  std::vector<std::byte> blockwise;
  for (size_t b = 0; b < x.size() / 32; ++b) {
    const auto one = io::quantize(std::span(x).subspan(b * 32, 32), GgmlType::q8_0);
    blockwise.insert(blockwise.end(), one.begin(), one.end());
  }
  EXPECT_EQ(whole, blockwise);
  x[x.size() - 40] = 1e10f;
  auto message = test::error_message([&] { io::quantize(x, GgmlType::q8_0); });
  EXPECT_NE(message.find("[quant] quantize: a block scale of"), std::string::npos) << message;
}

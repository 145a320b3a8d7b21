#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "base/dtype.hpp"
#include "base/error.hpp"

using namespace vktrain;

TEST(DType, EveryFiniteF16RoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7c00) == 0x7c00) continue;  // infinities and NaNs checked below
    float f = f16_to_f32(uint16_t(bits));
    ASSERT_EQ(f32_to_f16(f), bits) << "f16 bits " << bits;
  }
}

TEST(DType, EveryFiniteBf16RoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7f80) == 0x7f80) continue;
    ASSERT_EQ(f32_to_bf16(bf16_to_f32(uint16_t(bits))), bits) << "bf16 bits " << bits;
  }
}

TEST(DType, RoundsToNearestEven) {
  // 1 + 2^-11 lies halfway between f16 1.0 and its successor: ties go to the even 1.0.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25) * 3), 0x0002);  // subnormal rounding
}

TEST(DType, OverflowAndNaN) {
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7c00);
  EXPECT_EQ(f32_to_f16(-70000.0f), 0xfc00);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
}

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtype_from_name("bf16"), DType::bf16);
  EXPECT_EQ(dtype_size(DType::f16), 2u);
  EXPECT_EQ(dtype_size(DType::f32), 4u);
  try {
    dtype_from_name("f8");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'f8'"), std::string::npos);
  }
}

TEST(DType, FloatBytesStoreEachValueRoundedToTheType) {
  const std::vector<float> values = {1.0f, -2.5f, 1.0f + std::ldexp(1.0f, -9), 65504.0f};
  auto f32 = float_bytes(values, DType::f32);
  ASSERT_EQ(f32.size(), 16u);
  EXPECT_EQ(std::bit_cast<uint32_t>(values[2]),
            uint32_t(f32[8]) | uint32_t(f32[9]) << 8 | uint32_t(f32[10]) << 16 | uint32_t(f32[11]) << 24);
  for (DType t : {DType::bf16, DType::f16}) {
    auto bytes = float_bytes(values, t);
    ASSERT_EQ(bytes.size(), 8u);
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t word = uint16_t(uint16_t(bytes[2 * i]) | uint16_t(bytes[2 * i + 1]) << 8);
      float back = t == DType::bf16 ? bf16_to_f32(word) : f16_to_f32(word);
      EXPECT_EQ(back, round_to(t, values[i])) << dtype_name(t) << " value " << i;
    }
  }
  EXPECT_THROW(float_bytes(values, DType::i32), Error);
}

TEST(DType, BlockTypesHaveBlockSizesAndNoElementSize) {
  EXPECT_TRUE(dtype_is_block(DType::q4_k));
  EXPECT_FALSE(dtype_is_block(DType::bf16));
  EXPECT_FALSE(dtype_is_float(DType::q8_0));
  EXPECT_EQ(dtype_block(DType::q6_k).elements, 256u);
  EXPECT_EQ(dtype_block(DType::q6_k).bytes, 210u);
  EXPECT_EQ(dtype_block(DType::bf16).elements, 1u);
  EXPECT_EQ(dtype_bytes(DType::q8_0, 96), 3u * 34);
  // MXFP4's blocks are odd-sized: 32 values in 17 bytes.
  EXPECT_TRUE(dtype_is_block(DType::mxfp4));
  EXPECT_EQ(dtype_bytes(DType::mxfp4, 96), 3u * 17);
  EXPECT_EQ(dtype_name(DType::mxfp4), "mxfp4");
  EXPECT_EQ(all_dtypes().front(), DType::f32);
  EXPECT_EQ(all_dtypes().back(), DType::mxfp4);
  EXPECT_EQ(dtype_bytes(DType::f16, 7), 14u);
  EXPECT_EQ(dtype_name(DType::q5_k), "q5_k");
  // A block type's value has no size: asking is a bug, never a silently wrong 4.
  for (DType t : {DType::q8_0, DType::q4_k}) {
    try {
      dtype_size(t);
      FAIL() << "expected an error for " << dtype_name(t);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("block format"), std::string::npos) << e.what();
    }
  }
  try {
    dtype_bytes(DType::q4_0, 48);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("48 values of q4_0 are not a whole number of its 32-value"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(float_bytes(std::vector<float>(32, 1.0f), DType::q8_0), Error);
  EXPECT_THROW(round_to(DType::q4_k, 1.0f), Error);
}

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

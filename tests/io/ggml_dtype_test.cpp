#include <gtest/gtest.h>

#include "base/error.hpp"
#include "io/ggml_dtype.hpp"

using namespace vktrain;

// DType's block sizes are the host layouts' (io::ggml_block), and the mapping goes both ways.
TEST(GgmlDType, EveryDTypeMapsToAGgmlTypeOfTheSameBlock) {
  for (DType t : all_dtypes()) {
    io::GgmlType g = io::ggml_type_of(t);
    EXPECT_EQ(io::device_dtype(g), t) << dtype_name(t);
    io::GgmlBlock host = io::ggml_block(g);
    EXPECT_EQ(dtype_block(t).elements, host.elements) << dtype_name(t);
    EXPECT_EQ(dtype_block(t).bytes, host.bytes) << dtype_name(t);
    EXPECT_EQ(dtype_is_block(t), host.elements > 1) << dtype_name(t);
  }
  EXPECT_FALSE(io::device_dtype(io::GgmlType::iq4_xs).has_value());
  EXPECT_FALSE(io::device_dtype(io::GgmlType::q8_k).has_value());
}

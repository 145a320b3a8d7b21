#pragma once
// Which ggml tensor types a device tensor holds as they are, and back: the element types and the
// block formats that DType names (src/base/dtype.hpp); tests check the block sizes agree.
#include <optional>

#include "base/dtype.hpp"
#include "io/quant.hpp"

namespace vktrain::io {

// The DType that holds `type`'s bytes unchanged; none for types a device tensor cannot hold
// (IQ*, TQ*, Q8_1, Q8_K, I8/I16/I64/F64), which are dequantized on load instead.
std::optional<DType> device_dtype(GgmlType type);
GgmlType ggml_type_of(DType dtype);  // every DType has one

}  // namespace vktrain::io

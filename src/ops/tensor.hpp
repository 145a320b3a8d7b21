#pragma once
// A tensor: dtype, shape and device memory. Row-major; the last dimension is the row. Memory may
// be several spans (a tensor larger than one allocation); each span holds whole rows, and
// locate() says where an element lives so ops can split their work at span boundaries. A tensor
// of a block dtype (q8_0 ... q6_k) holds each row as whole blocks along the last dimension, so
// its bytes are rows x the bytes of a row, not elements x an element's size.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/dtype.hpp"
#include "vk/memory.hpp"

namespace vktrain::vk {
class Context;
}

namespace vktrain {

struct Tensor {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::string name;
  vk::Allocation memory;

  uint64_t numel() const;
  uint64_t cols() const { return shape.empty() ? 1 : uint64_t(shape.back()); }
  uint64_t row_bytes() const { return dtype_bytes(dtype, cols()); }
  uint64_t bytes() const { return rows() * row_bytes(); }
  uint64_t rows() const { return cols() ? numel() / cols() : 0; }
  std::string describe() const;  // "name (bf16, [8, 512, 2048])"
};

// Where element `index` lives: its span, the byte offset into it, and how many elements from
// there on lie in the same span. In a block tensor `index` must start a block.
struct Location {
  const vk::Span* span;
  uint64_t offset;
  uint64_t contiguous;
  uint64_t address() const { return span->address + offset; }
};
Location locate(const Tensor& t, uint64_t index);

// Rows [first, first + count) of t seen as a [count, cols] matrix on the same memory: a view
// that owns nothing and must not outlive t. It crosses spans where t does.
Tensor rows_view(const Tensor& t, uint64_t first, uint64_t count);
// Elements [first, first + numel(shape)) of t as a tensor of `shape` on the same memory (a view,
// like rows_view). Fails if an allocation boundary of t would split one of the view's rows.
Tensor view(const Tensor& t, uint64_t first, std::vector<int64_t> shape, std::string name);

Tensor make_tensor(vk::Context& context, DType dtype, std::vector<int64_t> shape,
                   std::string name);
// Host floats in, rounded to the tensor's dtype; and back out as floats.
void write_floats(vk::Context& context, Tensor& t, std::span<const float> values);
std::vector<float> read_floats(vk::Context& context, const Tensor& t);
// The same for i32 tensors (token ids, positions, document ids, labels).
void write_ints(vk::Context& context, Tensor& t, std::span<const int32_t> values);
std::vector<int32_t> read_ints(vk::Context& context, const Tensor& t);
// The tensor's bytes as they are: exactly t.bytes() of them. For block tensors, the ggml blocks
// of a GGUF tensor or of io::quantize, row after row.
void write_bytes(vk::Context& context, Tensor& t, std::span<const std::byte> bytes);
std::vector<std::byte> read_bytes(vk::Context& context, const Tensor& t);

}  // namespace vktrain

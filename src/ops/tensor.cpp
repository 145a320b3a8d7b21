#include "ops/tensor.hpp"

#include <cstring>

#include "base/error.hpp"
#include "vk/context.hpp"
#include "vk/transfer.hpp"

namespace vktrain {

uint64_t Tensor::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

std::string Tensor::describe() const {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  return fmt::format("{} ({}, [{}])", name.empty() ? "tensor" : name, dtype_name(dtype), dims);
}

Location locate(const Tensor& t, uint64_t index) {
  DTypeBlock block = dtype_block(t.dtype);
  if (index % block.elements)
    fail("[tensor] element {} of {} is inside a {}-value block", index, t.describe(),
         block.elements);
  uint64_t byte = index / block.elements * block.bytes;
  for (const auto& span : t.memory.spans()) {
    if (byte < span.bytes)
      return {&span, byte, (span.bytes - byte) / block.bytes * block.elements};
    byte -= span.bytes;
  }
  fail("[tensor] element {} is outside {}", index, t.describe());
}

Tensor view(const Tensor& t, uint64_t first, std::vector<int64_t> shape, std::string name) {
  Tensor view;
  view.dtype = t.dtype;
  view.shape = std::move(shape);
  view.name = std::move(name);
  uint64_t count = view.numel(), row = view.cols();
  if (first + count > t.numel())
    fail("[tensor] {} at element {} is outside {}", view.describe(), first, t.describe());
  std::vector<vk::Span> spans;
  for (uint64_t e = first, end = first + count; e < end;) {
    Location at = locate(t, e);
    uint64_t n = std::min(end - e, at.contiguous);
    if (row && n % row != 0)
      fail("[tensor] {} would split a row across allocations of {}", view.describe(),
           t.describe());
    vk::Span span = *at.span;
    span.address += at.offset;
    span.offset += at.offset;
    span.bytes = dtype_bytes(t.dtype, n);
    if (span.mapped) span.mapped = static_cast<std::byte*>(span.mapped) + at.offset;
    spans.push_back(span);
    e += n;
  }
  view.memory = vk::Allocation(nullptr, std::move(spans), view.bytes());
  return view;
}

Tensor rows_view(const Tensor& t, uint64_t first, uint64_t count) {
  return view(t, first * t.cols(), {int64_t(count), int64_t(t.cols())}, t.name);
}

Tensor make_tensor(vk::Context& context, DType dtype, std::vector<int64_t> shape,
                   std::string name) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.name = std::move(name);
  for (int64_t d : t.shape)
    if (d < 0) fail("[tensor] {} has a negative dimension", t.describe());
  DTypeBlock block = dtype_block(dtype);
  if (t.cols() % block.elements)
    fail("[tensor] {}: a row of {} values is not a whole number of {}'s {}-value blocks; use a "
         "type whose blocks fit the row", t.describe(), t.cols(), dtype_name(dtype),
         block.elements);
  uint64_t row_bytes = t.cols() ? t.row_bytes() : block.bytes;
  t.memory = context.allocator.allocate(t.bytes(), vk::MemoryKind::device, t.describe(), row_bytes);
  return t;
}

namespace {

void require_count(const Tensor& t, size_t count) {
  if (count != t.numel())
    fail("[tensor] writing {} values into {} of {} elements", count, t.describe(), t.numel());
}

void require_floats(const Tensor& t) {
  if (!dtype_is_float(t.dtype))
    fail("[tensor] {} does not hold f32, f16 or bf16 values", t.describe());
}

}  // namespace

void write_floats(vk::Context& context, Tensor& t, std::span<const float> values) {
  require_floats(t);
  require_count(t, values.size());
  std::vector<std::byte> bytes(t.bytes());
  for (size_t i = 0; i < values.size(); ++i) {
    if (t.dtype == DType::f32) {
      std::memcpy(&bytes[4 * i], &values[i], 4);
    } else {
      uint16_t h = t.dtype == DType::f16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
  }
  vk::upload(context, t.memory, bytes);
}

std::vector<float> read_floats(vk::Context& context, const Tensor& t) {
  require_floats(t);
  std::vector<std::byte> bytes(t.bytes());
  vk::download(context, t.memory, bytes);
  std::vector<float> values(t.numel());
  for (size_t i = 0; i < values.size(); ++i) {
    if (t.dtype == DType::f32) {
      std::memcpy(&values[i], &bytes[4 * i], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[2 * i], 2);
      values[i] = t.dtype == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }
  return values;
}

void write_ints(vk::Context& context, Tensor& t, std::span<const int32_t> values) {
  if (t.dtype != DType::i32) fail("[tensor] {} does not hold i32 integers", t.describe());
  require_count(t, values.size());
  vk::upload(context, t.memory, std::as_bytes(values));
}

std::vector<int32_t> read_ints(vk::Context& context, const Tensor& t) {
  if (t.dtype != DType::i32) fail("[tensor] {} does not hold i32 integers", t.describe());
  std::vector<int32_t> values(t.numel());
  vk::download(context, t.memory, std::as_writable_bytes(std::span(values)));
  return values;
}

void write_bytes(vk::Context& context, Tensor& t, std::span<const std::byte> bytes) {
  if (bytes.size() != t.bytes())
    fail("[tensor] writing {} bytes into {} of {} bytes", bytes.size(), t.describe(), t.bytes());
  vk::upload(context, t.memory, bytes);
}

std::vector<std::byte> read_bytes(vk::Context& context, const Tensor& t) {
  std::vector<std::byte> bytes(t.bytes());
  vk::download(context, t.memory, bytes);
  return bytes;
}

}  // namespace vktrain

#include "ops/elementwise.hpp"

#include <cstring>

#include "kernels/push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

uint32_t fill_bits(DType dtype, float value) {
  switch (dtype) {
    case DType::f32: {
      uint32_t bits;
      std::memcpy(&bits, &value, 4);
      return bits;
    }
    case DType::f16: return f32_to_f16(value);
    case DType::bf16: return f32_to_bf16(value);
    case DType::i32: return uint32_t(int32_t(value));
    default: fail("[fill] {} tensors are not filled value by value", dtype_name(dtype));
  }
}

const char* word_suffix(DType dtype) { return dtype_size(dtype) == 4 ? "u32" : "u16"; }

enum class Binary : uint32_t { add = 0, mul = 1, scale = 2 };

// One copy2d dispatch: a rows x cols block, each side inside one span from its location.
void record_copy2d(vk::Recorder& rec, const Tensor& out, const Location& dst, uint64_t out_ld,
                   const Tensor& in, const Location& src, uint64_t in_ld, uint32_t rows,
                   uint32_t cols) {
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("copy2d_{}", word_suffix(out.dtype)));
  kernels::Copy2dPush push{src.address(), dst.address(), rows, cols, uint32_t(in_ld),
                           uint32_t(out_ld)};
  uint32_t groups_y = std::min<uint32_t>((rows + 3) / 4, ctx.caps().max_workgroup_count[1]);
  rec.dispatch("copy2d", p, &push, sizeof push, (cols + 63) / 64, groups_y, 1,
               {piece_range(in, src, (rows - 1) * in_ld + cols)},
               {piece_range(out, dst, (rows - 1) * out_ld + cols)});
}

void elementwise(vk::Recorder& rec, const char* op, Binary kind, Tensor& out, const Tensor& a,
                 const Tensor* b, float s) {
  require_same_shape(op, out, a);
  require_same_dtype(op, out, a);
  if (b) {
    require_same_shape(op, out, *b);
    require_same_dtype(op, out, *b);
  }
  auto& ctx = rec.context();
  std::string kernel = fmt::format("elementwise_{}", dtype_name(out.dtype));
  VkPipeline p = pipeline(ctx, kernel, {uint32_t(kind)});
  std::vector<const Tensor*> tensors = {&out, &a};
  if (b) tensors.push_back(b);
  for_each_piece(out.numel(), tensors, [&](const Piece& piece) {
    kernels::ElementwisePush push{};
    push.dst = piece.at[0].address();
    push.a = piece.at[1].address();
    push.b = b ? piece.at[2].address() : push.a;
    push.count = uint32_t(piece.count);
    push.scale = s;
    push.head = vector_head(piece.count, out.dtype, {push.dst, push.a, push.b});
    std::vector<vk::ByteRange> reads = {piece_range(a, piece.at[1], piece.count)};
    if (b) reads.push_back(piece_range(*b, piece.at[2], piece.count));
    rec.dispatch(op, p, &push, sizeof push, vector_groups(ctx, piece.count, push.head), 1, 1,
                 reads, {piece_range(out, piece.at[0], piece.count)});
  });
}

}  // namespace

void fill(vk::Recorder& rec, Tensor& out, float value) {
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("fill_{}", word_suffix(out.dtype)));
  for_each_piece(out.numel(), {&out}, [&](const Piece& piece) {
    // 16-bit elements go in pairs as 32-bit words from the first 4-byte boundary on.
    bool word16 = dtype_size(out.dtype) == 2;
    uint64_t address = piece.at[0].address();
    uint32_t head = word16 && address % 4 ? 1 : 0;
    kernels::FillPush push{address, uint32_t(piece.count), fill_bits(out.dtype, value), head};
    uint64_t threads = word16 ? (piece.count + 1) / 2 : piece.count;
    rec.dispatch("fill", p, &push, sizeof push, stride_groups(ctx, threads), 1, 1, {},
                 {piece_range(out, piece.at[0], piece.count)});
  });
}

void convert(vk::Recorder& rec, Tensor& out, const Tensor& in) {
  if (out.numel() != in.numel())
    fail("[convert] {} and {} differ in size", out.describe(), in.describe());
  if (out.dtype == in.dtype) return copy(rec, out, in);
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("convert_{}_{}", dtype_name(in.dtype),
                                           dtype_name(out.dtype)));
  for_each_piece(out.numel(), {&out, &in}, [&](const Piece& piece) {
    kernels::ConvertPush push{piece.at[1].address(), piece.at[0].address(),
                              uint32_t(piece.count)};
    rec.dispatch("convert", p, &push, sizeof push, stride_groups(ctx, piece.count), 1, 1,
                 {piece_range(in, piece.at[1], piece.count)},
                 {piece_range(out, piece.at[0], piece.count)});
  });
}

void copy(vk::Recorder& rec, Tensor& out, const Tensor& in, CopyPath path) {
  require_same_dtype("copy", out, in);
  if (out.numel() != in.numel())
    fail("[copy] {} and {} differ in size", out.describe(), in.describe());
  if (path == CopyPath::automatic) {
    // Measured (bench/RESULTS.md): on an H100 vkCmdCopyBuffer moves 850 GB/s, the copy2d kernel
    // 2160 GB/s; on lavapipe the transfer is the faster (12 against 0.8 GB/s).
    path = rec.context().caps().is_gpu() ? CopyPath::kernel : CopyPath::transfer;
  }
  for_each_piece(out.numel(), {&out, &in}, [&](const Piece& piece) {
    if (path == CopyPath::transfer) {
      uint64_t size = dtype_size(out.dtype);
      rec.copy(*piece.at[1].span, piece.at[1].offset, *piece.at[0].span, piece.at[0].offset,
               piece.count * size);
      return;
    }
    // The contiguous piece as rows of kCopyColumns elements, then the remainder as one row.
    constexpr uint64_t kCopyColumns = 4096;
    uint64_t rows = piece.count / kCopyColumns, rest = piece.count % kCopyColumns;
    if (rows)
      record_copy2d(rec, out, piece.at[0], kCopyColumns, in, piece.at[1], kCopyColumns,
                    uint32_t(rows), uint32_t(kCopyColumns));
    if (rest)
      record_copy2d(rec, out, locate(out, piece.first + rows * kCopyColumns), rest, in,
                    locate(in, piece.first + rows * kCopyColumns), rest, 1, uint32_t(rest));
  });
}

void copy_block(vk::Recorder& rec, Tensor& out, uint64_t out_first, uint64_t out_ld,
                const Tensor& in, uint64_t in_first, uint64_t in_ld, uint32_t rows,
                uint32_t cols) {
  require_same_dtype("copy_block", out, in);
  if (!rows || !cols) return;
  uint64_t in_extent = (rows - 1) * in_ld + cols, out_extent = (rows - 1) * out_ld + cols;
  if (in_first + in_extent > in.numel() || out_first + out_extent > out.numel())
    fail("[copy_block] a {}x{} block reaches past {} or {}", rows, cols, in.describe(),
         out.describe());
  Location src = locate(in, in_first), dst = locate(out, out_first);
  if (src.contiguous < in_extent || dst.contiguous < out_extent)
    fail("[copy_block] the block crosses an allocation boundary of {} or {}", in.describe(),
         out.describe());
  record_copy2d(rec, out, dst, out_ld, in, src, in_ld, rows, cols);
}

void add(vk::Recorder& rec, Tensor& out, const Tensor& a, const Tensor& b) {
  elementwise(rec, "add", Binary::add, out, a, &b, 0.0f);
}

void mul(vk::Recorder& rec, Tensor& out, const Tensor& a, const Tensor& b) {
  elementwise(rec, "mul", Binary::mul, out, a, &b, 0.0f);
}

void scale(vk::Recorder& rec, Tensor& out, const Tensor& a, float s) {
  elementwise(rec, "scale", Binary::scale, out, a, nullptr, s);
}

}  // namespace vktrain::ops

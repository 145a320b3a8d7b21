// ops::moe_matmul on a block-quantized expert weight: a slab of experts (or of one expert's band
// rows) at a time is decoded by the dequantize kernels into the recording's workspace in x's
// dtype, then the float grouped kernel runs over only that slab's experts. Every output element
// sums all K of its products in the float kernel's own order, so the result equals moe_matmul on
// the dequantized weight bit for bit (on one variant).
#include <algorithm>

#include "kernels/push.h"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_common.hpp"
#include "ops/moe_matmul_parts.hpp"

namespace vktrain::ops {
namespace {

// How a product walks w [E, R, Q] (its band of `band` rows): `experts` experts a slab, and within
// each expert pieces of `piece` band rows (x w^T: pieces of N, all Q columns) or `piece` columns
// (x w: pieces of N, all band rows), so that no output sums over two slabs.
struct SlabShape {
  uint64_t experts, piece, bytes;  // bytes: the largest slab, decoded
};

// Whole experts where one's band fits the bound, else pieces of one: rows for x w^T; for x w
// whole blocks of columns, a multiple of 256 where at least 256 fit (every block size divides
// it; wide pieces keep the kernel's 64-wide tiles full), else of the block.
SlabShape slab_shape(uint64_t E, uint64_t band, uint64_t Q, uint64_t element, bool trans_w,
                     DType weight, uint64_t slab_bytes) {
  const uint64_t budget = slab_bytes ? slab_bytes : kMatmulSlabBytes;
  const uint64_t per_expert = band * Q * element;
  if (per_expert <= budget) {
    const uint64_t experts = std::min(E, budget / per_expert);
    return {experts, trans_w ? band : Q, experts * per_expert};
  }
  if (trans_w) {
    const uint64_t rows = std::max<uint64_t>(1, budget / (Q * element));
    return {1, rows, rows * Q * element};
  }
  const uint64_t fit = budget / (band * element), block = dtype_block(weight).elements;
  const uint64_t granule = fit >= 256 ? 256 : block;
  const uint64_t cols = std::min(Q, std::max(block, fit / granule * granule));
  return {1, cols, band * cols * element};
}

// Decodes `rows` rows of `cols` values from byte `src` (rows w.row_bytes() apart) into `dst`,
// row-major, as io::dequantize decodes them, rounded once to the slab's dtype.
void decode(vk::Recorder& rec, VkPipeline pipeline, const Tensor& w, const vk::ByteRange& w_read,
            uint64_t src, uint64_t rows, uint64_t cols, uint64_t dst,
            const vk::ByteRange& written) {
  kernels::DequantizePush d{};
  d.src = src;
  d.dst = dst;
  d.src_stride = w.row_bytes();
  d.rows = uint32_t(rows);
  d.cols = uint32_t(cols);
  rec.dispatch("moe_matmul dequantize " + std::string(dtype_name(w.dtype)), pipeline, &d,
               sizeof d, stride_groups(rec.context(), rows * cols / 8), 1, 1, {w_read}, {written});
}

}  // namespace

uint64_t moe_matmul_slab_scratch_bytes(DType in, DType weight, uint64_t experts,
                                       uint64_t band_rows, uint64_t cols, bool trans_w,
                                       uint64_t slab_bytes) {
  if (!dtype_is_block(weight)) return 0;
  return slab_shape(experts, band_rows, cols, dtype_size(in), trans_w, weight, slab_bytes).bytes;
}

namespace moe_matmul_parts {

void slab_product(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                  const Tensor& offsets, const MoeMatmulOptions& options) {
  const char* op = "moe_matmul";
  auto& ctx = rec.context();
  const bool trans_w = options.trans_w;
  const uint64_t E = uint64_t(w.shape[0]), R = uint64_t(w.shape[1]), Q = uint64_t(w.shape[2]);
  const uint64_t first = options.band.first, band = options.band.rows ? options.band.rows : R;
  const uint64_t element = dtype_size(x.dtype), S = uint64_t(x.shape[0]);
  const DTypeBlock block = dtype_block(w.dtype);
  const SlabShape shape =
      slab_shape(E, band, Q, element, trans_w, w.dtype, options.slab_bytes);
  const vk::Span& space = rec.workspace(shape.bytes);
  const VkPipeline decoder =
      pipeline(ctx, fmt::format("dequantize_{}_{}", dtype_name(w.dtype), dtype_name(x.dtype)));
  auto a = moe::whole(op, x), b = moe::whole(op, w), c = moe::whole(op, y),
       off = moe::whole(op, offsets);
  const uint64_t pieces_of = trans_w ? band : Q;  // what pieces split: N either way
  for (uint64_t e0 = 0; e0 < E; e0 += shape.experts) {
    const uint64_t experts = std::min(shape.experts, E - e0);
    for (uint64_t p0 = 0; p0 < pieces_of; p0 += shape.piece) {
      const uint64_t n = std::min(shape.piece, pieces_of - p0);
      const uint64_t rows = trans_w ? n : band, cols = trans_w ? Q : n;  // of each expert
      const vk::ByteRange slab = vk::range_of(space, 0, experts * rows * cols * element);
      // Row r of expert e's piece, from its band's row `first` on and column p0 (x w).
      auto source = [&](uint64_t e) {
        return b.address + (e * R + first + (trans_w ? p0 : 0)) * w.row_bytes() +
               (trans_w ? 0 : p0 / block.elements * block.bytes);
      };
      if (rows == R && cols == Q) {  // whole experts lie one after another: one decode
        decode(rec, decoder, w, b.range, source(e0), experts * R, Q, space.address, slab);
      } else {
        // One decode an expert, each naming only its own bytes, so that they need no barrier
        // between them (Qwen3-30B-A3B's gate band: 128 of them a product).
        const uint64_t bytes = rows * cols * element;
        for (uint64_t e = e0; e < e0 + experts; ++e)
          decode(rec, decoder, w, b.range, source(e), rows, cols,
                 space.address + (e - e0) * bytes, vk::range_of(space, (e - e0) * bytes, bytes));
      }
      kernels::MoeMatmulPush push{};
      push.a = a.address;
      push.b = space.address;
      push.c = c.address + dtype_bytes(y.dtype, p0);
      push.offsets = off.address;
      push.b_expert_stride = rows * cols;
      push.M = uint32_t(S);
      push.N = uint32_t(n);
      push.K = uint32_t(trans_w ? Q : band);
      push.lda = push.K;
      push.ldb = uint32_t(cols);
      push.ldc = uint32_t(trans_w ? band : Q);
      push.trans_b = trans_w;
      push.first_expert = uint32_t(e0);
      push.experts = uint32_t(experts);
      push.alpha = options.alpha;
      push.beta = options.beta;
      std::vector<vk::ByteRange> reads{a.range, slab, off.range};
      if (options.beta != 0.0f) reads.push_back(c.range);
      dispatch_rows(rec, push, x.dtype, y.dtype, options, reads, c.range);
    }
  }
}

}  // namespace moe_matmul_parts
}  // namespace vktrain::ops

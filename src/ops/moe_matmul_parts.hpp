#pragma once
// What ops::moe_matmul's float product and its slabs of a block-quantized weight share
// (moe_matmul.cpp, moe_matmul_slabs.cpp). Internal to ops/.
#include <vector>

#include "kernels/moe_push.h"
#include "ops/moe_matmul.hpp"

namespace vktrain::ops::moe_matmul_parts {

// One dispatch of the grouped product in its default (ROWS) mode: push holds A, B, C, the
// offsets, sizes, leading dimensions, alpha, beta and the experts [first_expert, + experts) it
// runs over; in and out are A's and C's dtypes, S all grouped rows (push.M).
void dispatch_rows(vk::Recorder& rec, const kernels::MoeMatmulPush& push, DType in, DType out,
                   const MoeMatmulOptions& options, const std::vector<vk::ByteRange>& reads,
                   const vk::ByteRange& written);

// y = alpha * x op(w[e]) + beta * y on a block-quantized w [E, R, Q] (checked by the caller),
// decoded a slab at a time into the recording's workspace in x's dtype (moe_matmul.hpp).
void slab_product(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                  const Tensor& offsets, const MoeMatmulOptions& options);

// Whether the matrix-vector kernel takes moe_matmul's product on a block-quantized w (checked by
// the caller) instead of slabs: x w^T, few grouped rows, subgroup arithmetic, not forced off.
bool takes_vector(const vk::Context& context, const Tensor& y, const Tensor& x, const Tensor& w,
                  const MoeMatmulOptions& options);

// y = alpha * x w[e]^T + beta * y on a block-quantized w, reading only the experts with rows.
void vector_product(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                    const Tensor& offsets, const MoeMatmulOptions& options);

}  // namespace vktrain::ops::moe_matmul_parts

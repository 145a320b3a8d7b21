// ops::moe_matmul's decode-step product on a block-quantized expert weight: the
// moe_matmul_vector kernel reads only the experts that own grouped rows, each block where it
// multiplies it (ops::matmul's vector variant, per expert), where slabs decode all E experts.
#include <algorithm>

#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"
#include "ops/moe_common.hpp"
#include "ops/moe_matmul_parts.hpp"

namespace vktrain::ops::moe_matmul_parts {

// The vector kernel reads, for every chunk of at most kMatmulVectorRows rows of one expert, that
// expert's band once; there are at most S chunks, so with S <= E it reads at most E bands' blocks,
// no more than the slab path's decode alone reads, which then also writes and rereads them as
// floats (2 to 8 times their bytes). A generation step (S = k) and a short prompt tail (T * k
// rows, Qwen3-30B-A3B: up to 16 tokens of its top-8 of 128) read k or more experts, not all E.
// Past E rows, experts own several rows each and the float kernel's tiles over decoded slabs
// reuse each decoded value more: slabs.
namespace {

std::string kernel_name(const Tensor& x, const Tensor& y, const Tensor& w) {
  return fmt::format("moe_matmul_vector_{}_{}_{}", dtype_name(x.dtype), dtype_name(y.dtype),
                     dtype_name(w.dtype));
}

}  // namespace

bool takes_vector(const vk::Context& context, const Tensor& y, const Tensor& x, const Tensor& w,
                  const MoeMatmulOptions& options) {
  const uint64_t S = uint64_t(x.shape[0]), E = uint64_t(w.shape[0]);
  return options.trans_w && !options.force_slabs && S <= E &&
         S <= context.caps().max_workgroup_count[1] && context.caps().subgroup_arithmetic &&
         kernels::find(kernel_name(x, y, w));
}

void vector_product(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& w,
                    const Tensor& offsets, const MoeMatmulOptions& options) {
  const char* op = "moe_matmul";
  auto& ctx = rec.context();
  const uint64_t E = uint64_t(w.shape[0]), R = uint64_t(w.shape[1]), Q = uint64_t(w.shape[2]);
  const uint64_t band = options.band.rows ? options.band.rows : R, S = uint64_t(x.shape[0]);
  if (!S) return;
  const std::string name = kernel_name(x, y, w);
  // One workgroup column per band row, each taking several where the band passes the device's
  // count; one workgroup row per grouped row (those that start no chunk return at once).
  const uint64_t columns = std::max<uint64_t>(ctx.caps().max_workgroup_count[0], 1);
  const uint64_t group_x = std::min(band, columns);
  require_loop_budget(ctx, op, ceil_div(band, group_x) * ceil_div(Q, 64 * 8),
                      "the vector kernel's runs of each band row it owns");
  auto a = moe::whole(op, x), b = moe::whole(op, w), c = moe::whole(op, y),
       off = moe::whole(op, offsets);
  kernels::MoeMatmulPush push{};
  push.a = a.address;
  push.b = b.address + options.band.first * w.row_bytes();
  push.c = c.address;
  push.offsets = off.address;
  push.b_expert_stride = R * w.row_bytes();  // bytes, in this kernel
  push.M = uint32_t(S);
  push.N = uint32_t(band);
  push.K = uint32_t(Q);
  push.lda = uint32_t(Q);
  push.ldb = uint32_t(Q);
  push.ldc = uint32_t(band);
  push.trans_b = 1;
  push.experts = uint32_t(E);
  push.alpha = options.alpha;
  push.beta = options.beta;
  std::vector<vk::ByteRange> reads{a.range, b.range, off.range};
  if (options.beta != 0.0f) reads.push_back(c.range);
  rec.dispatch(name, pipeline(ctx, name, {uint32_t(kMatmulVectorRows)}), &push, sizeof push,
               uint32_t(group_x), uint32_t(S), 1, reads, {c.range});
}

}  // namespace vktrain::ops::moe_matmul_parts

#include "ops/moe_router.hpp"

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

constexpr uint32_t kRouterGroup = 64;  // moe_router.comp's local size

// T, E, k from logits [T, E] and ids [T, k], checked; and the loop budget of one token's thread.
struct RouterShape {
  uint64_t tokens, experts, k;
};

RouterShape check(vk::Context& ctx, const char* op, const Tensor& logits, const Tensor& ids) {
  moe::require_dtype(op, logits, DType::f32);
  moe::require_dtype(op, ids, DType::i32);
  if (logits.shape.size() != 2 || ids.shape.size() != 2 || ids.shape[0] != logits.shape[0])
    fail("[{}] logits {} and ids {} must be [T, E] and [T, k]", op, logits.describe(),
         ids.describe());
  RouterShape s{uint64_t(logits.shape[0]), uint64_t(logits.shape[1]), uint64_t(ids.shape[1])};
  if (s.k < 1 || s.k > s.experts)
    fail("[{}] k = {} experts per token must be between 1 and the {} experts ({})", op, s.k,
         s.experts, ids.describe());
  moe::require_index_range(op, logits.numel(), "logits");
  require_loop_budget(ctx, op, (s.k + 4) * s.experts, "one token's routing over E experts");
  return s;
}

}  // namespace

void moe_router_forward(vk::Recorder& rec, Tensor& ids, Tensor& weights, Tensor* probs,
                        const Tensor& logits, const MoeRouter& router) {
  const char* op = "moe_router_forward";
  auto& ctx = rec.context();
  RouterShape s = check(ctx, op, logits, ids);
  moe::require_dtype(op, weights, DType::f32);
  moe::require_shape(op, weights, ids.shape);
  if (probs) {
    moe::require_dtype(op, *probs, DType::f32);
    moe::require_shape(op, *probs, logits.shape);
  }
  auto in = moe::whole(op, logits), id = moe::whole(op, ids), w = moe::whole(op, weights);
  std::vector<vk::ByteRange> writes{id.range, w.range};
  uint64_t probs_address = 0;
  if (probs) {
    auto p = moe::whole(op, *probs);
    probs_address = p.address;
    writes.push_back(p.range);
  }
  kernels::MoeRouterPush push{in.address,
                              id.address,
                              w.address,
                              probs_address,
                              0,
                              0,
                              uint32_t(s.tokens),
                              uint32_t(s.experts),
                              uint32_t(s.k),
                              uint32_t(router.routing),
                              router.normalize,
                              0};
  rec.dispatch(op, pipeline(ctx, "moe_router_forward"), &push, sizeof push,
               moe::groups(ctx, op, s.tokens, kRouterGroup), 1, 1, {in.range}, writes);
}

void moe_router_backward(vk::Recorder& rec, Tensor& dlogits, const Tensor& dweights,
                         const Tensor& logits, const Tensor& ids, const MoeRouter& router,
                         GradientStore store) {
  const char* op = "moe_router_backward";
  auto& ctx = rec.context();
  RouterShape s = check(ctx, op, logits, ids);
  moe::require_dtype(op, dweights, DType::f32);
  moe::require_shape(op, dweights, ids.shape);
  moe::require_dtype(op, dlogits, DType::f32);
  moe::require_shape(op, dlogits, logits.shape);
  auto in = moe::whole(op, logits), id = moe::whole(op, ids), dw = moe::whole(op, dweights),
       dz = moe::whole(op, dlogits);
  std::vector<vk::ByteRange> reads{in.range, id.range, dw.range};
  if (store == GradientStore::add) reads.push_back(dz.range);
  kernels::MoeRouterPush push{in.address,
                              id.address,
                              0,
                              0,
                              dw.address,
                              dz.address,
                              uint32_t(s.tokens),
                              uint32_t(s.experts),
                              uint32_t(s.k),
                              uint32_t(router.routing),
                              router.normalize,
                              store == GradientStore::add};
  rec.dispatch(op, pipeline(ctx, "moe_router_backward"), &push, sizeof push,
               moe::groups(ctx, op, s.tokens, kRouterGroup), 1, 1, reads, {dz.range});
}

}  // namespace vktrain::ops

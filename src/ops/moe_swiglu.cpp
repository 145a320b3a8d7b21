#include "ops/moe_swiglu.hpp"

#include "kernels/moe_push.h"
#include "ops/dispatch.hpp"
#include "ops/moe_common.hpp"

namespace vktrain::ops {
namespace {

// tensors: gate, up, then h (forward) or dh, dgate, dup (backward).
void record(vk::Recorder& rec, const char* op, std::vector<const Tensor*> tensors,
            SwigluClamp clamp, GradientStore store) {
  auto& ctx = rec.context();
  const bool backward = tensors.size() == 5;
  const Tensor& gate = *tensors[0];
  require_float(op, gate);
  for (const Tensor* t : tensors) {
    require_same_shape(op, *t, gate);
    require_same_dtype(op, *t, gate);
  }
  moe::require_index_range(op, gate.numel(), "gate");
  uint64_t address[5] = {};
  std::vector<vk::ByteRange> reads, writes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto w = moe::whole(op, *tensors[i]);
    address[i] = w.address;
    bool output = i >= (backward ? 3u : 2u);
    if (!output || store == GradientStore::add) reads.push_back(w.range);
    if (output) writes.push_back(w.range);
  }
  kernels::MoeSwigluPush push{address[0],  address[1],  address[2],
                              address[3],  address[4],  uint32_t(gate.numel()),
                              clamp.alpha, clamp.limit, store == GradientStore::add};
  rec.dispatch(op,
               pipeline(ctx, fmt::format("moe_swiglu_{}_{}", backward ? "backward" : "forward",
                                         dtype_name(gate.dtype))),
               &push, sizeof push, stride_groups(ctx, gate.numel()), 1, 1, reads, writes);
}

}  // namespace

void moe_swiglu_forward(vk::Recorder& rec, Tensor& h, const Tensor& gate, const Tensor& up,
                        SwigluClamp clamp) {
  record(rec, "moe_swiglu_forward", {&gate, &up, &h}, clamp, GradientStore::write);
}

void moe_swiglu_backward(vk::Recorder& rec, Tensor& dgate, Tensor& dup, const Tensor& dh,
                         const Tensor& gate, const Tensor& up, SwigluClamp clamp,
                         GradientStore store) {
  record(rec, "moe_swiglu_backward", {&gate, &up, &dh, &dgate, &dup}, clamp, store);
}

}  // namespace vktrain::ops

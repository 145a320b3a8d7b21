#include "ops/glu.hpp"

#include "kernels/glu_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

// The tensors of one call in GluPush order (gate, up, h or dh, dgate, dup); forward has no
// gradients. Forward writes h; backward writes the two gradients, or adds into them (`store`).
void record(vk::Recorder& rec, const char* op, std::vector<const Tensor*> tensors,
            GluActivation activation, GradientStore store) {
  bool backward = tensors.size() == 5;
  const Tensor& gate = *tensors[0];
  require_float(op, gate);
  for (const Tensor* t : tensors) {
    require_same_shape(op, *t, gate);
    require_same_dtype(op, *t, gate);
  }
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("glu_{}_{}", backward ? "backward" : "forward",
                                           dtype_name(gate.dtype)),
                          {uint32_t(activation)});
  for_each_piece(gate.numel(), tensors, [&](const Piece& piece) {
    uint64_t address[5] = {};
    std::vector<vk::ByteRange> reads, writes;
    for (size_t i = 0; i < tensors.size(); ++i) {
      address[i] = piece.at[i].address();
      auto range = piece_range(*tensors[i], piece.at[i], piece.count);
      if (i < (backward ? 3u : 2u) || store == GradientStore::add) reads.push_back(range);
      if (i >= (backward ? 3u : 2u)) writes.push_back(range);
    }
    uint32_t head = vector_head(piece.count, gate.dtype,
                                std::vector<uint64_t>(address, address + tensors.size()));
    kernels::GluPush push{address[0], address[1], address[2], address[3], address[4],
                          uint32_t(piece.count), head, store == GradientStore::add};
    rec.dispatch(op, p, &push, sizeof push, vector_groups(ctx, piece.count, head), 1, 1, reads,
                 writes);
  });
}

}  // namespace

void glu_forward(vk::Recorder& rec, Tensor& h, const Tensor& gate, const Tensor& up,
                 GluActivation activation) {
  record(rec, "glu_forward", {&gate, &up, &h}, activation, GradientStore::write);
}

void glu_backward(vk::Recorder& rec, Tensor& dgate, Tensor& dup, const Tensor& dh,
                  const Tensor& gate, const Tensor& up, GluActivation activation,
                  GradientStore store) {
  record(rec, "glu_backward", {&gate, &up, &dh, &dgate, &dup}, activation, store);
}

}  // namespace vktrain::ops

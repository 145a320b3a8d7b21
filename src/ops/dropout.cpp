#include "ops/dropout.hpp"

#include "kernels/lora_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {

bool dropout_keeps(int32_t seed, uint32_t salt, uint64_t index, float probability) {
  return kernels::dropout_keeps(kernels::dropout_key(uint32_t(seed), salt), uint32_t(index),
                                uint32_t(index >> 32), kernels::dropout_threshold(probability));
}

void require_valid_dropout(const char* op, const DropoutSettings& settings) {
  if (!(settings.probability >= 0.0f && settings.probability < 1.0f))
    fail("[{}] the dropout probability must be in [0, 1), got {}", op, settings.probability);
  if (!settings.seed) fail("[{}] dropout needs a seed tensor (i32 [1])", op);
  if (settings.seed->dtype != DType::i32 || settings.seed->numel() != 1)
    fail("[{}] the dropout seed must be i32 with 1 element, got {}", op,
         settings.seed->describe());
}

void dropout(vk::Recorder& rec, Tensor& out, const Tensor& in, const DropoutSettings& settings,
             bool accumulate) {
  require_same_dtype("dropout", out, in);
  if (out.numel() != in.numel())
    fail("[dropout] {} and {} differ in size", out.describe(), in.describe());
  require_valid_dropout("dropout", settings);
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("dropout_{}", dtype_name(out.dtype)));
  Location seed = locate(*settings.seed, 0);
  for_each_piece(out.numel(), {&out, &in}, [&](const Piece& piece) {
    kernels::DropoutPush push{};
    push.src = piece.at[1].address();
    push.dst = piece.at[0].address();
    push.seed = seed.address();
    push.first = piece.first;
    push.count = uint32_t(piece.count);
    push.salt = settings.salt;
    push.threshold = kernels::dropout_threshold(settings.probability);
    push.scale = float(1.0 / (1.0 - double(settings.probability)));
    push.accumulate = accumulate;
    std::vector<vk::ByteRange> reads = {piece_range(in, piece.at[1], piece.count),
                                        piece_range(*settings.seed, seed, 1)};
    if (accumulate) reads.push_back(piece_range(out, piece.at[0], piece.count));
    rec.dispatch("dropout", p, &push, sizeof push, stride_groups(ctx, piece.count), 1, 1, reads,
                 {piece_range(out, piece.at[0], piece.count)});
  });
}

}  // namespace vktrain::ops

#pragma once
// Dropout whose mask is never stored: each element's keep decision is a hash of (seed, salt,
// element index) (kernels/lora_push.h), so the backward pass recomputes the forward's mask. The
// seed lives on the device (i32 [1]) so a recorded step replays with a new mask per step; the
// salt, one per call site, gives each layer its own mask.
#include <cstdint>

#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

struct DropoutSettings {
  float probability = 0;         // P(drop), in [0, 1)
  uint32_t salt = 0;             // one per call site (layer and projection)
  const Tensor* seed = nullptr;  // i32 [1] on the device; needed whenever a mask is drawn
};

// out = (accumulate ? out : 0) + in * keep / (1 - p). out and in: one dtype (f32, f16 or bf16),
// the same number of elements; out may be in. The mask depends on the element index in the
// whole tensor, never on how the tensor is split into spans.
void dropout(vk::Recorder& rec, Tensor& out, const Tensor& in, const DropoutSettings& settings,
             bool accumulate);

// Whether the kernel keeps element `index` (host side, for references and tests).
bool dropout_keeps(int32_t seed, uint32_t salt, uint64_t index, float probability);

// Checks probability and seed; `op` names the caller in the error.
void require_valid_dropout(const char* op, const DropoutSettings& settings);

}  // namespace vktrain::ops

#pragma once
// One token's pass through one decoder layer for incremental decoding (model/generation.hpp):
// Transformer::layer_forward's math at B = T = 1, with attention over a KV cache instead of the
// batch. LoRA adapters apply unmerged, without dropout.
#include <cstdint>

#include "model/activations.hpp"
#include "model/transformer.hpp"

namespace vktrain::model {

// acts.residual[l] -> acts.residual[l + 1] for the token at `position` (positions: i32 [1, 1]
// holding it); the token's rotated key and value are written into row `position` of
// k_cache / v_cache [1, capacity, Hkv, D] before it attends to rows [0, position]. acts: B = T =
// 1 (one layer set is enough: recompute = true).
void record_decode_layer(vk::Recorder& rec, const Transformer& model, Activations& acts,
                         int64_t l, const Tensor& positions, int64_t position, Tensor& k_cache,
                         Tensor& v_cache);

}  // namespace vktrain::model

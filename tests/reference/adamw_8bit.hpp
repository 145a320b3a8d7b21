#pragma once
// bitsandbytes' blockwise 8-bit AdamW (Adam8bit with decoupled weight decay), step by step in
// f32 as ops::adamw_8bit_update defines it: decode each block's moments, torch.optim.AdamW's
// update, the block's new absmax, each moment stored as its nearest code.
#include <array>
#include <cstdint>
#include <vector>

#include "reference/adamw.hpp"

namespace vktrain::reference {

struct Adamw8bitState {
  std::vector<uint8_t> m_codes, v_codes;  // one a value
  std::vector<float> m_absmax, v_absmax;  // one a block of 256 values
};

// One step over every value (a whole number of blocks). step_values: ops::adamw_step_values'
// f32 values; clip: the gradients' f32 clipping factor (1: none); decay[i]: whether weight decay
// applies to value i; maps: the signed and unsigned dynamic quantization maps.
void adamw_8bit(std::vector<float>& params, Adamw8bitState& state,
                const std::vector<float>& grads, const std::vector<bool>& decay,
                const std::array<float, 3>& step_values, float clip, const AdamwSettings& s,
                const std::array<float, 256>& signed_map,
                const std::array<float, 256>& unsigned_map);

}  // namespace vktrain::reference

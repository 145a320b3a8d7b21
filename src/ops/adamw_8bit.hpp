#pragma once
// AdamW with 8-bit moments (bitsandbytes' blockwise Adam8bit, `optim="adamw_8bit"`): both
// moments are stored as one byte per value, a code into a 256-entry dynamic quantization map
// (signed for the first moment, unsigned for the second), with one f32 absmax per block of 256
// values; a value is map[code] * absmax. Each update decodes a block's moments, runs
// ops::adamw_update's f32 arithmetic on them (decoupled weight decay, bias corrections, clipping
// to the global norm: torch.optim.AdamW's order, where bitsandbytes decays after the step), and
// stores each moment again as the nearest code of value / new absmax (kernels/adamw_8bit.comp).
// 1 + 4/256 bytes per value and moment instead of 4.
//
// The parameters, gradients and codes share the arenas' layout (element i of the arenas is code
// i), so the update is one flat pass like AdamW's; a group must start on a block and hold whole
// blocks (the arenas' rows of 1024 values are 4 blocks).
#include <array>
#include <vector>

#include "ops/adamw.hpp"

namespace vktrain::ops {

inline constexpr uint64_t kAdamw8bitBlock = 256;  // values per absmax (bitsandbytes' blocksize)
inline constexpr uint32_t kAdamw8bitZeroCode = 127;  // the signed map's 0; the unsigned map's is 0

// bitsandbytes' create_dynamic_map(signed, max_exponent_bits = 7, total_bits = 8), in f32 as
// torch forms it: for exponents 1e-6 .. 1e0, the midpoints of linspace(0.1, 1, n) times the
// exponent (n = 2^i + 1 signed, 2^(i+1) + 1 unsigned), negated too when signed, plus 0 and 1,
// sorted. Signed: 127 negative codes, 0 at code 127, 1 at code 255; unsigned: 0 at code 0.
std::array<float, 256> dynamic_quantization_map(bool is_signed);
// The table the kernel reads (f32 [4, 256]): the signed map, its 255 midpoints
// (map[i] + map[i + 1]) / 2 in f32 (and a last entry that is never read), the unsigned map and
// its midpoints.
std::vector<float> adamw_8bit_tables();

// A block's codes are 256 bytes, 4 to a 32-bit word, the first in the low byte.
struct Adamw8bitState {
  Tensor m_codes, v_codes;    // i32, numel = values / 4
  Tensor m_absmax, v_absmax;  // f32, numel = values / 256
};

// params, state += the 8-bit AdamW update for grads over every group. `tables`: f32 [4, 256]
// holding adamw_8bit_tables(). grad_norm_squared as for adamw_update.
void adamw_8bit_update(vk::Recorder& rec, Tensor& params, Adamw8bitState& state,
                       const Tensor& grads, const Tensor& tables, const Tensor& step_values,
                       const Tensor* grad_norm_squared, const std::vector<AdamwGroup>& groups,
                       const AdamwOptions& options);

}  // namespace vktrain::ops

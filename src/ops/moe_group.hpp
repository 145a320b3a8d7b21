#pragma once
// Tokens grouped by expert, on the device: deterministic (a stable counting sort, no float
// atomics) and without a host round trip. Letters: T tokens, E experts, k experts per token,
// S = T * k slots (slot t * k + j is token t's j-th choice), C columns.
// The grouped order puts expert 0's slots first, then expert 1's, ..., each in slot order; an id
// outside [0, E) (a corrupt ids buffer) goes after them all and is never computed or combined.
#include "ops/gradient_store.hpp"
#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

inline constexpr uint32_t kMoeMaxExperts = 1023;  // moe_group.comp's shared arrays

// The i32 elements of moe_group's scratch tensor.
uint64_t moe_group_scratch_elements(uint64_t slots, uint64_t experts);

// offsets [E + 1] i32: expert e's rows are [offsets[e], offsets[e + 1]); rows [S] i32: the slot
// at each grouped position; positions [T, k] i32: the grouped position of each slot. ids [T, k]
// i32 from moe_router_forward; scratch: i32, at least moe_group_scratch_elements.
void moe_group(vk::Recorder& rec, Tensor& offsets, Tensor& rows, Tensor& positions, Tensor& scratch,
               const Tensor& ids, uint32_t experts);

// xe [S, C] = x [T, C] at each grouped slot's token, times that slot's weight ([T, k] f32)
// where weights is not null (the combine's backward). x and xe: one float dtype.
void moe_gather(vk::Recorder& rec, Tensor& xe, const Tensor& x, const Tensor& rows,
                const Tensor* weights = nullptr);

// y [T, C] (+)= sum over j of weights[t, j] (1 where null) * ye [positions[t, j], :]: the expert
// outputs back in token order, summed in j order (with null weights, the gather's backward).
void moe_combine(vk::Recorder& rec, Tensor& y, const Tensor& ye, const Tensor& positions,
                 const Tensor& offsets, const Tensor* weights,
                 GradientStore store = GradientStore::write);

// dweights [T, k] f32 (+)= dot(dy [t, :], ye [positions[t, j], :]): the combine's gradient for
// the routing weights.
void moe_combine_backward_weights(vk::Recorder& rec, Tensor& dweights, const Tensor& dy,
                                  const Tensor& ye, const Tensor& positions, const Tensor& offsets,
                                  GradientStore store = GradientStore::write);

}  // namespace vktrain::ops

#pragma once
// Token embedding: out[t, :] = scale * table[ids[t], :]. ids: i32, N of them (any shape);
// table: [V, C] and out: [N, C] (or [..., C] with N rows), f32, f16 or bf16 (one dtype), or a
// block-quantized table (q8_0 ... q6_k, C whole blocks; forward only: a frozen base) whose rows
// decode to out's float type. The table may be split over several allocations. The kernels cannot report a bad id: ids outside
// [0, V) read as the nearest row; embedding_token_order checks ids on the host.
#include <cstdint>
#include <span>
#include <vector>

#include "ops/tensor.hpp"
#include "vk/recorder.hpp"

namespace vktrain::ops {

// `scale` is 1, or sqrt(C) for Gemma. It is rounded to the activations' dtype first, as
// transformers multiplies by a tensor of that dtype (the normalizer); the product is rounded
// once, so the result equals transformers' bit for bit.
void embedding_forward(vk::Recorder& rec, Tensor& out, const Tensor& ids, const Tensor& table,
                       float scale = 1.0f);

// The token indices 0 .. N-1 sorted stably by id: the order embedding_backward sums in. The data
// loader has the ids on the host anyway; upload the result as an i32 tensor of N elements.
// Fails naming the first id outside [0, vocab).
std::vector<int32_t> embedding_token_order(std::span<const int32_t> ids, uint64_t vocab);

// Adds into the table's gradient (callers zero it with one fill): dtable[v, :] += scale * the sum
// of dout[t, :] over the tokens t with ids[t] == v, the same bits every run (no atomics).
// dtable: f32 [V, C]; dout: like forward's out; order: i32, embedding_token_order(ids) of the
// same ids. ids and order must each lie in one allocation (they are small).
void embedding_backward(vk::Recorder& rec, Tensor& dtable, const Tensor& dout, const Tensor& ids,
                        const Tensor& order, float scale = 1.0f);

}  // namespace vktrain::ops

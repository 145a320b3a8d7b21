#include "model/activations.hpp"

#include <string>

namespace vktrain::model {

namespace {

// One layer's set. Tensors that no backward reads (q and k before RoPE when there is no
// qk-norm; the branch outputs when there are no sandwich norms) are views of `first`'s when it
// is given: every layer then writes them into the same memory.
LayerActivations make_layer(vk::Context& ctx, const io::ModelConfig& c, DType dtype, int64_t B,
                            int64_t T, const std::string& at, const LayerActivations* first) {
  const int64_t N = B * T, C = c.hidden_size, F = c.intermediate_size;
  const int64_t Q = c.num_heads * c.head_dim, KV = c.num_kv_heads * c.head_dim;
  auto act = [&](std::vector<int64_t> shape, const char* name) {
    return make_tensor(ctx, dtype, std::move(shape), at + name);
  };
  auto stat = [&](int64_t n, const char* name) {
    return make_tensor(ctx, DType::f32, {n}, at + name);
  };
  auto passing = [&](Tensor LayerActivations::*field, bool read_by_backward,
                     std::vector<int64_t> shape, const char* name) {
    if (read_by_backward || !first) return act(std::move(shape), name);
    return view(first->*field, 0, std::move(shape), at + name);
  };
  LayerActivations a;
  a.norm_in = act({N, C}, "input norm");
  a.norm_in_rstd = stat(N, "input norm rstd");
  a.q = passing(&LayerActivations::q, c.qk_norm, {N, Q}, "q");
  a.k = passing(&LayerActivations::k, c.qk_norm, {N, KV}, "k");
  a.v = act({N, KV}, "v");
  if (c.qk_norm) {
    a.q_rstd = stat(N * c.num_heads, "q norm rstd");
    a.k_rstd = stat(N * c.num_kv_heads, "k norm rstd");
  }
  a.q_rotated = act({N, Q}, "q rotated");
  a.k_rotated = act({N, KV}, "k rotated");
  a.attention = act({N, Q}, "attention");
  a.lse = make_tensor(ctx, DType::f32, {B, c.num_heads, T}, at + "attention lse");
  a.attention_out =
      passing(&LayerActivations::attention_out, c.sandwich_norms, {N, C}, "attention output");
  a.middle = act({N, C}, "middle residual");
  a.norm_ffn = act({N, C}, "ffn norm");
  a.norm_ffn_rstd = stat(N, "ffn norm rstd");
  a.gate = act({N, F}, "gate");
  a.up = act({N, F}, "up");
  a.product = act({N, F}, "gated product");
  a.ffn_out = passing(&LayerActivations::ffn_out, c.sandwich_norms, {N, C}, "ffn output");
  if (c.sandwich_norms) {
    a.post_attention_rstd = stat(N, "post-attention norm rstd");
    a.post_ffn_rstd = stat(N, "post-ffn norm rstd");
  }
  return a;
}

}  // namespace

Activations::Activations(vk::Context& ctx, const io::ModelConfig& c, DType dtype, int64_t batch,
                         int64_t time, bool recompute)
    : batch_(batch), time_(time), recompute_(recompute) {
  const int64_t N = batch * time, C = c.hidden_size, F = c.intermediate_size;
  const int64_t Q = c.num_heads * c.head_dim, KV = c.num_kv_heads * c.head_dim;
  for (int64_t l = 0; l <= c.num_layers; ++l)
    residual.push_back(make_tensor(ctx, dtype, {N, C}, "residual " + std::to_string(l)));
  int64_t sets = recompute ? 1 : c.num_layers;
  saved_.reserve(size_t(sets));
  for (int64_t l = 0; l < sets; ++l)
    saved_.push_back(make_layer(ctx, c, dtype, batch, time,
                                recompute ? "layer " : "layer " + std::to_string(l) + " ",
                                saved_.empty() ? nullptr : &saved_.front()));
  final_norm = make_tensor(ctx, dtype, {N, C}, "final norm");
  final_norm_rstd = make_tensor(ctx, DType::f32, {N}, "final norm rstd");
  auto grad = [&](std::vector<int64_t> shape, const char* name) {
    return make_tensor(ctx, dtype, std::move(shape), std::string("d ") + name);
  };
  grads.residual = grad({N, C}, "residual");
  grads.norm_in = grad({N, C}, "input norm");
  grads.q = grad({N, Q}, "q");
  grads.k = grad({N, KV}, "k");
  grads.v = grad({N, KV}, "v");
  grads.q_rotated = grad({N, Q}, "q rotated");
  grads.k_rotated = grad({N, KV}, "k rotated");
  if (c.qk_norm) {
    grads.q_normed = grad({N, Q}, "q normed");
    grads.k_normed = grad({N, KV}, "k normed");
  }
  grads.attention = grad({N, Q}, "attention");
  if (c.sandwich_norms) grads.branch = grad({N, C}, "sandwich norm input");
  grads.norm_ffn = grad({N, C}, "ffn norm");
  grads.gate = grad({N, F}, "gate");
  grads.up = grad({N, F}, "up");
  grads.product = grad({N, F}, "gated product");
  grads.final_norm = grad({N, C}, "final norm");
  loss = make_tensor(ctx, DType::f32, {1}, "loss");
  grad_scale = make_tensor(ctx, DType::f32, {1}, "loss gradient scale");
}

}  // namespace vktrain::model

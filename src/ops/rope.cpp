#include "ops/rope.hpp"

#include <cmath>
#include <numbers>

#include "kernels/rope_push.h"
#include "ops/dispatch.hpp"

namespace vktrain::ops {
namespace {

// Checks the shapes and records the kernel over pieces of head rows. `store` is the backward's
// (the forward writes).
void rope(vk::Recorder& rec, const char* op, bool backward, Tensor& out, const Tensor& in,
          const Tensor& positions, const Tensor& inv_freq, GradientStore store) {
  require_same_shape(op, out, in);
  require_same_dtype(op, out, in);
  require_float(op, in);
  if (in.shape.size() < 2 || in.cols() == 0 || in.cols() % 2)
    fail("[{}] {} must be [..., heads, head_dim] with a positive even head_dim", op, in.describe());
  uint64_t dim = in.cols(), heads = uint64_t(in.shape[in.shape.size() - 2]);
  uint64_t head_rows = in.numel() / dim, tokens = heads ? head_rows / heads : 0;
  if (positions.dtype != DType::i32 || positions.numel() != tokens)
    fail("[{}] positions {} must be i32 with {} elements, one per token of {}", op,
         positions.describe(), tokens, in.describe());
  if (inv_freq.dtype != DType::f32 || inv_freq.numel() != dim / 2)
    fail("[{}] inv_freq {} must be f32 with {} elements, half the head_dim of {}", op,
         inv_freq.describe(), dim / 2, in.describe());
  if (head_rows == 0) return;
  if (backward && locate(out, 0).address() == locate(in, 0).address())
    fail("[{}] dx {} must not be dy", op, out.describe());
  auto& ctx = rec.context();
  VkPipeline p = pipeline(ctx, fmt::format("rope_{}_{}", backward ? "backward" : "forward",
                                           dtype_name(in.dtype)));
  Location freq = locate(inv_freq, 0);
  // Pieces of head rows inside one span of each tensor; a span may end inside a token.
  for (uint64_t first = 0; first < head_rows;) {
    uint64_t first_head = first % heads;
    Location src = locate(in, first * dim), dst = locate(out, first * dim),
             pos = locate(positions, first / heads);
    uint64_t n = std::min({head_rows - first, kMaxDispatchElements / dim,
                           src.contiguous / dim, dst.contiguous / dim,
                           pos.contiguous * heads - first_head});
    uint64_t n_tokens = (first_head + n + heads - 1) / heads;
    kernels::RopePush push{src.address(), pos.address(),   freq.address(),       dst.address(),
                           uint32_t(n),   uint32_t(heads), uint32_t(first_head), uint32_t(dim / 2),
                           store == GradientStore::add};
    std::vector<vk::ByteRange> reads = {piece_range(in, src, n * dim),
                                        piece_range(positions, pos, n_tokens),
                                        piece_range(inv_freq, freq, dim / 2)};
    if (store == GradientStore::add) reads.push_back(piece_range(out, dst, n * dim));
    rec.dispatch(op, p, &push, sizeof push, stride_groups(ctx, n_tokens * dim / 2), 1, 1, reads,
                 {piece_range(out, dst, n * dim)});
    first += n;
  }
}

}  // namespace

RopeScalingType rope_scaling_type_from_name(std::string_view name) {
  if (name == "default") return RopeScalingType::none;
  if (name == "linear") return RopeScalingType::linear;
  if (name == "llama3") return RopeScalingType::llama3;
  fail("[rope] rope_scaling type '{}' is not supported: use default, linear or llama3", name);
}

std::vector<float> rope_inverse_frequencies(uint32_t head_dim, double theta,
                                            const RopeScaling& scaling) {
  if (head_dim == 0 || head_dim % 2)
    fail("[rope] head_dim must be even and positive, got {}", head_dim);
  if (!(theta > 0)) fail("[rope] rope_theta must be positive, got {}", theta);
  // transformers: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)); torch casts base to
  // f32, powf rounds once (done here in double, then rounded), and 1.0 / t is t.reciprocal().
  float base = float(theta);
  std::vector<float> inv_freq(head_dim / 2);
  for (uint32_t i = 0; i < head_dim / 2; ++i) {
    float exponent = float(2 * i) / float(head_dim);
    inv_freq[i] = 1.0f / float(std::pow(double(base), double(exponent)));
  }
  switch (scaling.type) {
    case RopeScalingType::none: break;
    case RopeScalingType::linear:
      for (float& f : inv_freq) f /= scaling.factor;
      break;
    case RopeScalingType::llama3: {
      // _compute_llama3_parameters, each tensor op one f32 rounding; `scalar / t` is
      // t.reciprocal() * scalar in torch.
      const float old_context = scaling.original_max_position_embeddings;
      const float low = scaling.low_freq_factor, high = scaling.high_freq_factor;
      const float low_freq_wavelen = float(double(old_context) / double(low));
      const float high_freq_wavelen = float(double(old_context) / double(high));
      for (float& f : inv_freq) {
        float wavelen = (1.0f / f) * float(2 * std::numbers::pi);
        float scaled = wavelen > low_freq_wavelen ? f / scaling.factor : f;
        float smooth = ((1.0f / wavelen) * old_context - low) / float(double(high) - double(low));
        float smoothed = (1.0f - smooth) * scaled / scaling.factor + smooth * scaled;
        bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
        f = medium ? smoothed : scaled;
      }
      break;
    }
  }
  return inv_freq;
}

void rope_forward(vk::Recorder& rec, Tensor& y, const Tensor& x, const Tensor& positions,
                  const Tensor& inv_freq) {
  rope(rec, "rope_forward", false, y, x, positions, inv_freq, GradientStore::write);
}

void rope_backward(vk::Recorder& rec, Tensor& dx, const Tensor& dy, const Tensor& positions,
                   const Tensor& inv_freq, GradientStore store) {
  rope(rec, "rope_backward", true, dx, dy, positions, inv_freq, store);
}

}  // namespace vktrain::ops

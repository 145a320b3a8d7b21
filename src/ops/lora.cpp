#include "ops/lora.hpp"

#include <deque>

#include "kernels/lora_push.h"
#include "ops/column_sum.hpp"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kBiasRowsPerChunk = 16;  // rows one bias_add thread walks

struct Dims {
  uint64_t rows, in, out, rank;  // N, I, O, R (R 0: no adapter)
};

bool has_adapter(const Linear& layer) { return layer.lora_a || layer.lora_b; }

bool draws_mask(const Linear& layer, const LoraSettings& settings) {
  return has_adapter(layer) && settings.dropout.probability != 0.0f;
}

// Checks the layer against x and returns its sizes; `op` names the caller in errors.
Dims check_layer(const char* op, const Tensor& x, const Linear& layer,
                 const LoraSettings& settings) {
  const Tensor& w = layer.weight;
  // A frozen weight may be block-quantized (a quantized base); matmul decodes it.
  if (!dtype_is_block(w.dtype)) require_same_dtype(op, w, x);
  require_float(op, x);
  if (w.shape.size() != 2 || uint64_t(w.shape[1]) != x.cols())
    fail("[{}] the weight must be [out, {}] for {}, got {}", op, x.cols(), x.describe(),
         w.describe());
  Dims d{x.rows(), x.cols(), uint64_t(w.shape[0]), 0};
  if (layer.bias && (layer.bias->dtype != DType::f32 || layer.bias->numel() != d.out))
    fail("[{}] the bias must be f32 with {} elements (the rows of {}), got {}", op, d.out,
         w.describe(), layer.bias->describe());
  if (!has_adapter(layer)) return d;
  if (!layer.lora_a || !layer.lora_b) fail("[{}] lora_a and lora_b come together", op);
  const Tensor &a = *layer.lora_a, &b = *layer.lora_b;
  require_same_dtype(op, a, x);
  require_same_dtype(op, b, x);
  if (a.shape.size() != 2 || uint64_t(a.shape[1]) != d.in)
    fail("[{}] lora_a must be [rank, {}], got {}", op, d.in, a.describe());
  d.rank = uint64_t(a.shape[0]);
  if (b.shape.size() != 2 || uint64_t(b.shape[0]) != d.out)
    fail("[{}] lora_b must be [{}, rank], got {}", op, d.out, b.describe());
  if (uint64_t(b.shape[1]) != d.rank)
    fail("[{}] the ranks differ: lora_a {} has {} rows, lora_b {} has {} columns", op,
         a.describe(), d.rank, b.describe(), b.shape[1]);
  if (draws_mask(layer, settings)) require_valid_dropout(op, settings.dropout);
  return d;
}

// An activation-dtype tensor [rows, cols] that must match x's dtype and rows.
void require_rows(const char* op, const char* what, const Tensor& t, const Tensor& x,
                  uint64_t rows, uint64_t cols) {
  if (t.dtype != x.dtype || t.rows() != rows || t.cols() != cols)
    fail("[{}] {} must be {} with {} rows of {}, got {}", op, what, dtype_name(x.dtype), rows,
         cols, t.describe());
}

// A parameter gradient: f32, shaped like its parameter.
void require_gradient(const char* op, const Tensor* grad, const std::vector<int64_t>& shape,
                      const char* what) {
  if (grad && (grad->dtype != DType::f32 || grad->shape != shape))
    fail("[{}] the gradient of {} must be f32 of its shape, got {}", op, what, grad->describe());
}

// t [..., C] as the [N, C] matrix the matmuls take: the same spans, not owned.
Tensor as_matrix(const Tensor& t) { return rows_view(t, 0, t.rows()); }

// Scratch tensors an op records into and keeps alive as long as the recording.
class Scratch {
 public:
  explicit Scratch(vk::Recorder& rec) : rec_(rec) {}
  ~Scratch() {
    for (Tensor& t : tensors_) rec_.keep(std::move(t.memory));
  }
  Tensor& make(DType dtype, uint64_t rows, uint64_t cols, const char* name) {
    tensors_.push_back(make_tensor(rec_.context(), dtype, {int64_t(rows), int64_t(cols)}, name));
    return tensors_.back();
  }

 private:
  vk::Recorder& rec_;
  std::deque<Tensor> tensors_;  // stable addresses as it grows
};

// What Scratch::make keeps for `count` [rows, cols] tensors.
uint64_t scratch_bytes(DType dtype, uint64_t rows, uint64_t cols, uint64_t count) {
  return count * vk::allocated_bytes(rows * cols * dtype_size(dtype));
}

// dropout(x) recorded into a scratch tensor, or null where no mask is drawn (the adapter then
// reads x itself).
Tensor* draw_dropout(vk::Recorder& rec, Scratch& scratch, const Tensor& x, const Dims& d,
                     const Linear& layer, const LoraSettings& settings) {
  if (!draws_mask(layer, settings)) return nullptr;
  Tensor& dropped = scratch.make(x.dtype, d.rows, d.in, "lora dropout(x)");
  dropout(rec, dropped, x, settings.dropout, false);
  return &dropped;
}

}  // namespace

void add_bias(vk::Recorder& rec, Tensor& y, const Tensor& bias) {
  uint64_t rows = y.rows(), cols = y.cols();
  require_float("add_bias", y);
  if (bias.dtype != DType::f32 || bias.numel() != cols)
    fail("[add_bias] the bias must be f32 with {} elements (the columns of {}), got {}", cols,
         y.describe(), bias.describe());
  if (!rows || !cols) return;
  auto& ctx = rec.context();
  if (cols >= (1ull << 32) || cols > uint64_t(kGroupSize) * ctx.caps().max_workgroup_count[0])
    fail("[add_bias] {} has too many columns for one dispatch", y.describe());
  Location b = locate(bias, 0);
  if (b.contiguous < cols) fail("[add_bias] the bias {} must lie in one span", bias.describe());
  VkPipeline p = pipeline(ctx, fmt::format("bias_add_{}", dtype_name(y.dtype)));
  uint64_t max_rows = std::min(uint64_t(ctx.caps().max_workgroup_count[1]) * kBiasRowsPerChunk,
                               std::max<uint64_t>(kMaxDispatchElements / cols, 1));
  // Rows are cut where a span of y ends.
  for_each_rows(rows, max_rows, {{&y, cols}},
                [&](uint64_t, uint64_t n, const std::vector<Location>& at) {
    kernels::BiasAddPush push{at[0].address(), b.address(), uint32_t(n), uint32_t(cols),
                              uint32_t(kBiasRowsPerChunk)};
    uint32_t chunks = uint32_t((n + kBiasRowsPerChunk - 1) / kBiasRowsPerChunk);
    rec.dispatch("bias_add", p, &push, sizeof push, uint32_t((cols + kGroupSize - 1) / kGroupSize),
                 chunks, 1, {piece_range(y, at[0], n * cols), piece_range(bias, b, cols)},
                 {piece_range(y, at[0], n * cols)});
  });
}

uint64_t linear_forward_scratch_bytes(DType dtype, uint64_t rows, uint64_t in, uint64_t rank,
                                      bool saves_hidden, bool dropout) {
  return scratch_bytes(dtype, rows, in, dropout) + scratch_bytes(dtype, rows, rank, !saves_hidden);
}

uint64_t linear_backward_scratch_bytes(DType dtype, uint64_t rows, uint64_t in, uint64_t rank,
                                       bool has_hidden, bool dropout) {
  return scratch_bytes(dtype, rows, in, dropout) +
         scratch_bytes(dtype, rows, rank, 1 + uint64_t(!has_hidden));
}

void linear_forward(vk::Recorder& rec, Tensor& y, Tensor* lora_hidden, const Tensor& x,
                    const Linear& layer, const LoraSettings& settings) {
  const char* op = "linear_forward";
  Dims d = check_layer(op, x, layer, settings);
  require_rows(op, "y", y, x, d.rows, d.out);
  if (lora_hidden && !d.rank) fail("[{}] lora_hidden is given but the layer has no adapter", op);
  if (lora_hidden) require_rows(op, "lora_hidden", *lora_hidden, x, d.rows, d.rank);

  Tensor x2 = as_matrix(x), y2 = as_matrix(y);
  if (!d.rank) {
    matmul(rec, y2, x2, layer.weight, {.trans_b = true});
    if (layer.bias) add_bias(rec, y2, *layer.bias);
    return;
  }
  Scratch scratch(rec);
  Tensor* dropped = draw_dropout(rec, scratch, x2, d, layer, settings);
  const Tensor& input = dropped ? *dropped : x2;
  Tensor u = lora_hidden ? as_matrix(*lora_hidden)
                         : as_matrix(scratch.make(x.dtype, d.rows, d.rank, "lora hidden"));
  matmul(rec, u, input, *layer.lora_a, {.trans_b = true});
  // The branch s u B^T rides along with the base product, so y is written once.
  matmul(rec, y2, x2, layer.weight,
         {.trans_b = true, .addend = {&u, layer.lora_b, true, settings.scale}});
  if (layer.bias) add_bias(rec, y2, *layer.bias);
}

void linear_backward(vk::Recorder& rec, const LinearGradients& grads, const Tensor& dy,
                     const Tensor& x, const Tensor* lora_hidden, const Linear& layer,
                     const LoraSettings& settings, GradientStore store) {
  const char* op = "linear_backward";
  Dims d = check_layer(op, x, layer, settings);
  require_rows(op, "dy", dy, x, d.rows, d.out);
  if (grads.x) require_rows(op, "dx", *grads.x, x, d.rows, d.in);
  require_gradient(op, grads.weight, layer.weight.shape, "the weight");
  require_gradient(op, grads.bias, {int64_t(d.out)}, "the bias");
  if ((grads.lora_a || grads.lora_b || lora_hidden) && !d.rank)
    fail("[{}] adapter gradients or lora_hidden are given but the layer has no adapter", op);
  if (d.rank) {
    require_gradient(op, grads.lora_a, layer.lora_a->shape, "lora_a");
    require_gradient(op, grads.lora_b, layer.lora_b->shape, "lora_b");
  }
  if (lora_hidden) require_rows(op, "lora_hidden", *lora_hidden, x, d.rows, d.rank);

  Tensor dy2 = as_matrix(dy), x2 = as_matrix(x);
  Tensor dx2 = grads.x ? as_matrix(*grads.x) : Tensor{};
  if (grads.bias) column_sum(rec, *grads.bias, dy2, true);
  if (grads.weight) matmul(rec, *grads.weight, dy2, x2, {.trans_a = true, .beta = 1.0f});
  // dx's first product stores as `store` says; later terms add.
  const float dx_beta = matmul_beta(store);
  // Without a dropout mask the branch's dx term rides along with the base product below.
  bool fused_dx = grads.x && d.rank && !draws_mask(layer, settings);
  if (grads.x && !fused_dx) matmul(rec, dx2, dy2, layer.weight, {.beta = dx_beta});
  if (!d.rank || (!grads.x && !grads.lora_a && !grads.lora_b)) return;

  const Tensor &a = *layer.lora_a, &b = *layer.lora_b;
  float s = settings.scale;
  Scratch scratch(rec);
  bool recompute_hidden = grads.lora_b && !lora_hidden;
  // dropout(x), drawn again from the same (seed, salt).
  bool needs_input = grads.lora_a || recompute_hidden;
  Tensor* dropped = needs_input ? draw_dropout(rec, scratch, x2, d, layer, settings) : nullptr;
  const Tensor& input = dropped ? *dropped : x2;
  if (grads.lora_b) {
    Tensor u = lora_hidden ? as_matrix(*lora_hidden) : Tensor{};
    if (recompute_hidden) {
      u = as_matrix(scratch.make(x.dtype, d.rows, d.rank, "lora hidden"));
      matmul(rec, u, input, a, {.trans_b = true});
    }
    matmul(rec, *grads.lora_b, dy2, u, {.trans_a = true, .alpha = s, .beta = 1.0f});
  }
  if (!grads.x && !grads.lora_a) return;
  Tensor& du = scratch.make(x.dtype, d.rows, d.rank, "lora hidden grad");
  matmul(rec, du, dy2, b, {.alpha = s});
  if (grads.lora_a) matmul(rec, *grads.lora_a, du, input, {.trans_a = true, .beta = 1.0f});
  if (!grads.x) return;
  if (fused_dx) {
    matmul(rec, dx2, dy2, layer.weight, {.beta = dx_beta, .addend = {&du, &a, false, 1.0f}});
    return;
  }
  // dx += mask(du A) / (1 - p): the product first, then the mask, added by the dropout kernel.
  // The product reuses dropout(x)'s scratch, which dA has consumed by now.
  Tensor& through = dropped ? *dropped : scratch.make(x.dtype, d.rows, d.in, "lora input grad");
  matmul(rec, through, du, a);
  dropout(rec, dx2, through, settings.dropout, true);
}

}  // namespace vktrain::ops

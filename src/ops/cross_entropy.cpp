#include "ops/cross_entropy.hpp"

#include "kernels/cross_entropy_push.h"
#include "ops/column_sum.hpp"
#include "ops/dispatch.hpp"
#include "ops/matmul.hpp"

namespace vktrain::ops {
namespace {

constexpr uint64_t kMaxGroups = 65535;  // row workgroups per dispatch (grid-stride beyond)

void require_scalar(const char* what, const Tensor& t) {
  if (t.dtype != DType::f32 || t.numel() != 1)
    fail("[cross_entropy] {} must be one f32 element: {}", what, t.describe());
}

// A [rows, vocab] scratch in one allocation: fewer rows when one span cannot hold them all.
Tensor chunk_scratch(vk::Context& ctx, DType dtype, uint64_t& rows, uint64_t vocab,
                     const char* name) {
  Tensor t = make_tensor(ctx, dtype, {int64_t(rows), int64_t(vocab)}, name);
  uint64_t fits = locate(t, 0).contiguous / vocab;  // >= 1: make_tensor keeps rows whole
  if (fits < rows) {
    rows = fits;
    t = make_tensor(ctx, dtype, {int64_t(rows), int64_t(vocab)}, name);
  }
  return t;
}

// Loss-only when dh is null; `store` is dh's.
void run(vk::Recorder& rec, Tensor& loss, Tensor* dh, Tensor* dw, const Tensor& h,
         const Tensor& w, const Tensor& labels, const Tensor* grad_scale,
         const CrossEntropyOptions& options, GradientStore store) {
  const char* op = "cross_entropy";
  require_float(op, h);
  // A frozen lm_head may be block-quantized (a quantized base); matmul decodes it.
  if (!dtype_is_block(w.dtype) || dw) require_same_dtype(op, w, h);
  uint64_t tokens = h.rows(), vocab = w.rows(), channels = w.cols();
  if (w.shape.size() != 2 || vocab == 0 || vocab > uint64_t(INT32_MAX) || h.cols() != channels)
    fail("[{}] the lm_head weight must be [V, C] with C = {} columns of the hidden states {}: {}",
         op, h.cols(), h.describe(), w.describe());
  if (labels.dtype != DType::i32 || labels.numel() != tokens)
    fail("[{}] labels must be i32 with one label per row of {}: {}", op, h.describe(),
         labels.describe());
  require_scalar("the loss", loss);
  if (dh) {
    require_same_shape(op, *dh, h);
    require_same_dtype(op, *dh, h);
    require_scalar("grad_scale", *grad_scale);
  }
  if (dw && (dw->dtype != DType::f32 || dw->shape != w.shape))
    fail("[{}] the lm_head gradient must be f32 {}: {}", op, w.describe(), dw->describe());
  if (tokens == 0) return;

  auto& ctx = rec.context();
  uint64_t chunk = options.chunk_tokens
                       ? std::min(options.chunk_tokens, tokens)
                       : cross_entropy_chunk_rows(tokens, vocab, ctx.caps(), dw != nullptr);
  Tensor logits = chunk_scratch(ctx, DType::f32, chunk, vocab, "cross_entropy logits");
  Tensor dlogits;
  if (dh) dlogits = chunk_scratch(ctx, h.dtype, chunk, vocab, "cross_entropy dlogits");
  // One loss a row, so that a long batch may take several allocations.
  Tensor losses = make_tensor(ctx, DType::f32, {int64_t(tokens), 1}, "cross_entropy token losses");
  VkPipeline rows_kernel = pipeline(
      ctx, fmt::format("cross_entropy_{}", dtype_name(dh ? h.dtype : DType::f32)), {dh != nullptr});
  Location at_logits = locate(logits, 0);
  Location at_dlogits = dh ? locate(dlogits, 0) : at_logits;
  Location at_scale = locate(dh ? *grad_scale : loss, 0);

  for (uint64_t n0 = 0; n0 < tokens;) {
    Location at_labels = locate(labels, n0), at_losses = locate(losses, n0);
    uint64_t n = std::min({chunk, tokens - n0, at_labels.contiguous, at_losses.contiguous});
    Tensor h_rows = rows_view(h, n0, n), logits_rows = rows_view(logits, 0, n);
    matmul(rec, logits_rows, h_rows, w, {.trans_b = true});

    kernels::CrossEntropyPush push{at_logits.address(), at_dlogits.address(),
                                   at_labels.address(), at_losses.address(),
                                   at_scale.address(), uint32_t(n), uint32_t(vocab)};
    std::vector<vk::ByteRange> reads = {piece_range(logits, at_logits, n * vocab),
                                        piece_range(labels, at_labels, n)};
    std::vector<vk::ByteRange> writes = {piece_range(losses, at_losses, n)};
    if (dh) {
      reads.push_back(piece_range(*grad_scale, at_scale, 1));
      writes.push_back(piece_range(dlogits, at_dlogits, n * vocab));
    }
    uint32_t groups = uint32_t(std::min<uint64_t>({n, kMaxGroups, ctx.caps().max_workgroup_count[0]}));
    rec.dispatch(op, rows_kernel, &push, sizeof push, groups, 1, 1, reads, writes);

    if (dh) {
      Tensor dlogits_rows = rows_view(dlogits, 0, n), dh_rows = rows_view(*dh, n0, n);
      matmul(rec, dh_rows, dlogits_rows, w, {.beta = matmul_beta(store)});
      if (dw) matmul(rec, *dw, dlogits_rows, h_rows, {.trans_a = true, .beta = 1.0f});
    }
    n0 += n;
  }
  column_sum(rec, loss, losses, true);  // loss += the sum, in a fixed order
  for (Tensor* t : {&logits, &dlogits, &losses})
    if (!t->memory.empty()) rec.keep(std::move(t->memory));
}

}  // namespace

uint64_t cross_entropy_chunk_bytes(const vk::Capabilities& device, bool head_gradient) {
  if (!device.is_gpu()) return 64ull << 20;
  return head_gradient ? 1024ull << 20 : 256ull << 20;
}

uint64_t cross_entropy_chunk_rows(uint64_t tokens, uint64_t vocab, const vk::Capabilities& device,
                                  bool head_gradient) {
  constexpr uint64_t kTileRows = 128;
  const uint64_t most =
      std::max<uint64_t>(cross_entropy_chunk_bytes(device, head_gradient) / (vocab * 4), 1);
  if (tokens <= most) return tokens;
  // The tokens spread evenly over the fewest chunks of at most `limit` rows, rounded up to
  // whole tiles where that stays within the limit.
  auto spread = [&](uint64_t limit) {
    const uint64_t even = ceil_div(tokens, ceil_div(tokens, limit));
    const uint64_t rounded = ceil_div(even, kTileRows) * kTileRows;
    return rounded <= limit ? rounded : even;
  };
  // Tile rows computed over all chunks of `rows` (the last one shorter).
  auto tiles = [&](uint64_t rows) {
    return tokens / rows * ceil_div(rows, kTileRows) + ceil_div(tokens % rows, kTileRows);
  };
  uint64_t rows = spread(most);
  if (const uint64_t whole = most / kTileRows * kTileRows; whole && tiles(spread(whole)) < tiles(rows))
    rows = spread(whole);
  return rows;
}

void cross_entropy_grad_scale(vk::Recorder& rec, Tensor& grad_scale,
                              const std::vector<const Tensor*>& labels) {
  require_scalar("grad_scale", grad_scale);
  auto& ctx = rec.context();
  struct Part {
    uint64_t address, count;
    vk::ByteRange range;
  };
  std::vector<Part> parts;
  for (const Tensor* t : labels) {
    if (t->dtype != DType::i32) fail("[cross_entropy] labels must be i32: {}", t->describe());
    for_each_piece(t->numel(), {t}, [&](const Piece& piece) {
      parts.push_back({piece.at[0].address(), piece.count, piece_range(*t, piece.at[0], piece.count)});
    });
  }
  if (parts.empty()) parts.push_back({0, 0, {}});  // no labels at all: the scale is 0
  Tensor counter = make_tensor(ctx, DType::i32, {1}, "cross_entropy label count");
  Location at_counter = locate(counter, 0), at_scale = locate(grad_scale, 0);
  auto counter_range = piece_range(counter, at_counter, 1);
  VkPipeline p = pipeline(ctx, "cross_entropy_count");
  for (size_t i = 0; i < parts.size(); ++i) {
    bool first = i == 0, last = i + 1 == parts.size();
    kernels::CrossEntropyCountPush push{parts[i].address, at_counter.address(), at_scale.address(),
                                        uint32_t(parts[i].count), first, last};
    std::vector<vk::ByteRange> reads = {parts[i].range};
    if (!first) reads.push_back(counter_range);
    rec.dispatch("cross_entropy_grad_scale", p, &push, sizeof push, 1, 1, 1, reads,
                 {last ? piece_range(grad_scale, at_scale, 1) : counter_range});
  }
  rec.keep(std::move(counter.memory));
}

void cross_entropy_loss(vk::Recorder& rec, Tensor& loss, const Tensor& h, const Tensor& w,
                        const Tensor& labels, const CrossEntropyOptions& options) {
  run(rec, loss, nullptr, nullptr, h, w, labels, nullptr, options, GradientStore::add);
}

void cross_entropy_loss_and_grad(vk::Recorder& rec, Tensor& loss, Tensor& dh, Tensor* dw,
                                 const Tensor& h, const Tensor& w, const Tensor& labels,
                                 const Tensor& grad_scale, const CrossEntropyOptions& options,
                                 GradientStore store) {
  run(rec, loss, &dh, dw, h, w, labels, &grad_scale, options, store);
}

}  // namespace vktrain::ops

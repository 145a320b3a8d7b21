#include "model/generation.hpp"

#include "arch/tensor_names.hpp"
#include "base/error.hpp"
#include "model/decode_layer.hpp"
#include "ops/elementwise.hpp"
#include "ops/embedding.hpp"
#include "ops/matmul.hpp"
#include "ops/rmsnorm.hpp"
#include "vk/recorder.hpp"

namespace vktrain::model {

namespace {

void check_token(int32_t token, int64_t vocab) {
  if (token < 0 || token >= vocab)
    fail("[generate] token id {} is outside the vocabulary of {}", token, vocab);
}

}  // namespace

Generator::Generator(Transformer& model, int64_t capacity)
    : model_(model),
      capacity_(capacity),
      step_acts_(model.context(), model.config(), model.setup().dtype, 1, 1, true, 0),
      step_batch_(model.make_batch(1, 1)),
      logits_(make_tensor(model.context(), DType::f32, {1, model.config().vocab_size}, "logits")) {
  const io::ModelConfig& c = model.config();
  if (capacity < 1) fail("[generate] the context must hold at least one token, got {}", capacity);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    std::vector<int64_t> shape{1, capacity, c.num_kv_heads, c.head_dim};
    std::string at = "layer " + std::to_string(l);
    k_cache_.push_back(make_tensor(model.context(), model.setup().dtype, shape, at + " k cache"));
    v_cache_.push_back(make_tensor(model.context(), model.setup().dtype, shape, at + " v cache"));
  }
}

std::vector<float> Generator::prefill(std::span<const int32_t> prompt) {
  const int64_t T = int64_t(prompt.size());
  if (T == 0) fail("[generate] the prompt has no tokens");
  if (T > capacity_)
    fail("[generate] the prompt's {} tokens do not fit the context of {}", T, capacity_);
  const io::ModelConfig& c = model_.config();
  for (int32_t token : prompt) check_token(token, c.vocab_size);
  // The forward reads ids, positions and document ids (one document); no targets.
  std::vector<int32_t> positions(static_cast<size_t>(T)), documents(positions.size(), 0);
  for (int32_t t = 0; t < T; ++t) positions[size_t(t)] = t;
  BatchTensors batch = model_.make_batch(1, T);
  write_ints(model_.context(), batch.ids, prompt);
  write_ints(model_.context(), batch.positions, positions);
  write_ints(model_.context(), batch.documents, documents);
  Activations acts(model_.context(), c, model_.setup().dtype, 1, T, false, 0);
  vk::Recorder rec(model_.context());
  model_.record_forward(rec, acts, batch, false);
  const uint64_t KV = uint64_t(c.num_kv_heads * c.head_dim);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    ops::copy_block(rec, k_cache_[size_t(l)], 0, KV, acts.layer(l).k_rotated, 0, KV, uint32_t(T),
                    uint32_t(KV));
    ops::copy_block(rec, v_cache_[size_t(l)], 0, KV, acts.layer(l).v, 0, KV, uint32_t(T),
                    uint32_t(KV));
  }
  length_ = T;
  return finish(rec, rows_view(acts.final_norm, uint64_t(T - 1), 1));
}

std::vector<float> Generator::step(int32_t token) {
  if (length_ == 0) fail("[generate] step() needs a prefill() first");
  if (length_ >= capacity_)
    fail("[generate] the context of {} tokens is full; give a larger one", capacity_);
  const io::ModelConfig& c = model_.config();
  check_token(token, c.vocab_size);
  vk::Context& ctx = model_.context();
  const int32_t position = int32_t(length_);
  write_ints(ctx, step_batch_.ids, std::span(&token, 1));
  write_ints(ctx, step_batch_.positions, std::span(&position, 1));
  const Parameters& params = model_.parameters();
  vk::Recorder rec(ctx);
  ops::embedding_forward(rec, step_acts_.residual[0], step_batch_.ids,
                         params.at(arch::hf::kEmbedTokens).weight, model_.embedding_scale());
  for (int64_t l = 0; l < c.num_layers; ++l)
    record_decode_layer(rec, model_, step_acts_, l, step_batch_.positions, length_,
                        k_cache_[size_t(l)], v_cache_[size_t(l)]);
  ops::rmsnorm_forward(rec, step_acts_.final_norm, nullptr,
                       step_acts_.residual[size_t(c.num_layers)],
                       params.at(arch::hf::kFinalNorm).weight, model_.norm_options());
  ++length_;
  return finish(rec, step_acts_.final_norm);
}

// Records the logits of one final-norm row [1, C], runs everything recorded, and reads them.
std::vector<float> Generator::finish(vk::Recorder& rec, const Tensor& final_norm_row) {
  ops::matmul(rec, logits_, final_norm_row, model_.lm_head(), {.trans_b = true});
  rec.run();
  return read_floats(model_.context(), logits_);
}

}  // namespace vktrain::model

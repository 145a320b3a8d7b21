#include "model/copy_task.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "model/activations.hpp"
#include "support/support.hpp"
#include "train/batch_upload.hpp"
#include "vk/recorder.hpp"

namespace vktrain::test {
namespace {

constexpr int32_t kBos = 1, kSep = 2, kFirstSymbol = 4, kSymbols = 20, kLength = 5;

data::TokenSequence copy_example(std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> symbol(kFirstSymbol, kFirstSymbol + kSymbols - 1);
  data::TokenSequence e;
  e.tokens.push_back(kBos);
  for (int i = 0; i < kLength; ++i) e.tokens.push_back(symbol(rng));
  e.tokens.push_back(kSep);
  for (int i = 0; i < kLength; ++i) e.tokens.push_back(e.tokens[size_t(1 + i)]);
  e.trained.assign(e.tokens.size(), 0);
  for (size_t i = kLength + 2; i < e.tokens.size(); ++i) e.trained[i] = 1;
  return e;
}

}  // namespace

io::ModelConfig copy_model_config(int64_t hidden, int64_t intermediate, int64_t layers,
                                  int64_t head_dim) {
  return io::parse_model_config(
      fmt::format(R"({{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
      "vocab_size": 24, "hidden_size": {}, "intermediate_size": {}, "num_hidden_layers": {},
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": {},
      "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": true}})", hidden, intermediate, layers, head_dim),
      "copy task model");
}

std::vector<data::TokenSequence> copy_examples(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<data::TokenSequence> out;
  for (size_t i = 0; i < n; ++i) out.push_back(copy_example(rng));
  return out;
}

data::Batcher copy_batcher(size_t n, uint32_t seed, int64_t batch, bool shuffle) {
  return data::Batcher(copy_examples(n, seed),
                       {.batch = batch, .time = 12, .pack = false, .shuffle = shuffle, .seed = 3});
}

train::TrainerOptions copy_options(const std::string& run_dir, int64_t steps, int64_t batch,
                                   const train::ScheduleOptions& schedule) {
  train::TrainerOptions options;
  options.run_dir = run_dir;
  options.steps = steps;
  options.shape = {batch, 12, 1, false};
  options.adamw.max_grad_norm = 1.0;
  options.schedule = schedule;
  return options;
}

double copy_accuracy(model::Transformer& m, const data::Batcher& data) {
  vk::Context& ctx = m.context();
  data::HostBatch first = data.batch(0, 0);
  model::Activations acts(ctx, m.config(), m.setup().dtype, first.batch, first.time, false, 0);
  model::BatchTensors device = m.make_batch(first.batch, first.time);
  const int64_t V = m.config().vocab_size;
  Tensor logits = make_tensor(ctx, DType::f32, {first.batch * first.time, V}, "logits");
  vk::Recorder rec(ctx);
  m.record_forward(rec, acts, device, false);
  m.record_logits(rec, logits, acts);
  int64_t right = 0, total = 0;
  for (int64_t i = 0; i < data.batches_in_epoch(0); ++i) {
    data::HostBatch b = data.batch(0, i);
    train::upload_batch(m, device, b);
    rec.run();
    std::vector<float> l = read_floats(ctx, logits);
    for (size_t t = 0; t < b.targets.size(); ++t) {
      if (b.targets[t] < 0) continue;
      auto row = l.begin() + int64_t(t) * V;
      right += std::max_element(row, row + V) - row == b.targets[t];
      ++total;
    }
  }
  return double(right) / double(total);
}

CopyRun train_copy(model::Transformer& m, const data::Batcher& train, const data::Batcher& scored,
                   const train::TrainerOptions& options) {
  train::Trainer trainer(m, train, &scored, options);
  CopyRun run;
  trainer.run([&](const train::StepReport& r) {
    if (r.step == 1) run.first_loss = r.loss;
    run.last_loss = r.loss;
    return false;
  });
  run.accuracy = copy_accuracy(m, scored);
  run.loss = trainer.evaluate();
  return run;
}

}  // namespace vktrain::test

// The trainer end to end on the device: a tiny model pre-trained from random weights learns a
// copy task (loss and held-out accuracy bounds), and a run stopped and resumed from its
// checkpoint gives the same losses, bit for bit, as one that never stopped.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "model/activations.hpp"
#include "model/init.hpp"
#include "model/tiny_models.hpp"
#include "support/support.hpp"
#include "train/trainer.hpp"
#include "vk/recorder.hpp"

namespace vktrain {
namespace {

// The copy task: BOS, five symbols, SEP, the same five symbols; only the copy is scored. Chance
// is 1 in 20; a model must learn to attend five tokens back to do better.
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

std::vector<data::TokenSequence> copy_examples(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<data::TokenSequence> out;
  for (size_t i = 0; i < n; ++i) out.push_back(copy_example(rng));
  return out;
}

io::ModelConfig copy_model_config() {
  return io::parse_model_config(R"({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
      "vocab_size": 24, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
      "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
      "tie_word_embeddings": true})", "copy task model");
}

std::unique_ptr<model::Transformer> new_model(const io::ModelConfig& config,
                                              const model::ModelSetup& setup, uint32_t seed) {
  auto m = std::make_unique<model::Transformer>(test::context(), config, setup);
  auto specs = model::base_parameters(config);
  for (auto& s : model::lora_parameters(config, setup.lora)) specs.push_back(s);
  auto weights = test::random_weights(specs, seed);
  for (const auto& p : m->parameters().all()) m->parameters().write(p.spec.name, weights.at(p.spec.name));
  return m;
}

// Greedy accuracy on the scored targets of every batch of `data`.
double accuracy(model::Transformer& m, const data::Batcher& data) {
  vk::Context& ctx = m.context();
  model::HostBatch first = data.batch(0, 0);
  model::Activations acts(ctx, m.config(), m.setup().dtype, first.batch, first.time, false,
                            0);
  model::BatchTensors device = m.make_batch(first.batch, first.time);
  const int64_t V = m.config().vocab_size;
  Tensor logits = make_tensor(ctx, DType::f32, {first.batch * first.time, V}, "logits");
  vk::Recorder rec(ctx);
  m.record_forward(rec, acts, device, false);
  m.record_logits(rec, logits, acts);
  int64_t right = 0, total = 0;
  for (int64_t i = 0; i < data.batches_in_epoch(0); ++i) {
    model::HostBatch b = data.batch(0, i);
    m.upload(device, b);
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

TEST(Trainer, PretrainingFromRandomWeightsLearnsToCopy) {
  io::ModelConfig config = copy_model_config();
  model::ModelSetup setup;
  setup.full = true;
  // Initialised as `vktrain init` and transformers do.
  model::Transformer m(test::context(), config, setup);
  for (const auto& [name, values] : model::initial_weights(config, 7))
    m.parameters().write(name, values);
  data::Batcher train(copy_examples(4096, 1), {.batch = 16, .time = 12, .pack = false, .seed = 3});
  data::Batcher held_out(copy_examples(128, 2),
                         {.batch = 16, .time = 12, .pack = false, .shuffle = false});
  test::TempDir dir;
  train::TrainerOptions options;
  options.run_dir = dir.file("run");
  options.steps = 150;
  options.shape = {16, 12, 1, false};
  options.adamw.weight_decay = 0.01;
  options.adamw.max_grad_norm = 1.0;
  options.schedule = {train::LrSchedule::cosine, 3e-3, 10, 0, 3e-4};
  options.eval_every = 50;
  train::Trainer trainer(m, train, &held_out, options);
  double before = accuracy(m, held_out), first_loss = 0, last_loss = 0;
  trainer.run([&](const train::StepReport& r) {
    if (r.step == 1) first_loss = r.loss;
    last_loss = r.loss;
    return false;
  });
  double after = accuracy(m, held_out), eval_loss = trainer.evaluate();
  // ln 20 = 3.0 is chance on the copied symbols. The bounds leave a margin over what the run
  // reaches on lavapipe (printed below), and far exceed chance.
  std::printf("copy task: loss %.3f -> %.3f, held-out loss %.3f, accuracy %.3f -> %.3f\n",
              first_loss, last_loss, eval_loss, before, after);
  EXPECT_GT(first_loss, 2.5);
  EXPECT_LT(eval_loss, 0.5);
  EXPECT_GT(after, 0.9);
  EXPECT_TRUE(std::filesystem::exists(options.run_dir + "/checkpoint-150/model.safetensors"));
}

std::vector<double> run_losses(const std::string& run_dir, int64_t steps, bool resume,
                               int64_t stop_after) {
  io::ModelConfig config = test::tiny_config("llama");
  model::ModelSetup setup;
  setup.lora.rank = 4;
  setup.lora.alpha = 8;
  setup.lora.dropout = 0.1f;
  setup.lora.targets = model::parse_lora_targets("q,v,down");
  auto m = new_model(config, setup, 5);
  std::mt19937 rng(4);
  std::vector<data::TokenSequence> examples;
  for (int i = 0; i < 40; ++i) {
    data::TokenSequence e;
    for (int t = 0; t < 3 + i % 7; ++t) e.tokens.push_back(int32_t(rng() % 97));
    examples.push_back(e);
  }
  data::Batcher batches(examples, {.batch = 2, .time = 16, .seed = 9});
  train::TrainerOptions options;
  options.run_dir = run_dir;
  options.steps = steps;
  options.shape = {2, 16, 2, false};
  options.adamw.weight_decay = 0.1;
  options.adamw.max_grad_norm = 0.5;
  options.schedule = {train::LrSchedule::linear, 1e-2, 2, 0, 0};
  options.seed = 77;
  options.resume = resume;
  options.settings = {{"model", "tiny llama"}, {"lora_rank", 4}};
  train::Trainer trainer(*m, batches, nullptr, options);
  std::vector<double> losses;
  trainer.run([&](const train::StepReport& r) {
    losses.push_back(r.loss);
    return r.step == stop_after;
  });
  return losses;
}

TEST(Trainer, ResumingGivesTheLossesOfAnUninterruptedRun) {
  test::TempDir dir;
  std::vector<double> straight = run_losses(dir.file("straight"), 7, false, -1);
  std::vector<double> first = run_losses(dir.file("resumed"), 7, false, 3);
  std::vector<double> rest = run_losses(dir.file("resumed"), 7, true, -1);
  ASSERT_EQ(straight.size(), 7u);
  ASSERT_EQ(first.size(), 3u);
  ASSERT_EQ(rest.size(), 4u);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, straight);
  std::ifstream metrics(dir.file("resumed") + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 7);
  // Same seed, same losses.
  EXPECT_EQ(run_losses(dir.file("again"), 7, false, -1), straight);
}

// Row `r` of a batch as a batch of one row.
model::HostBatch row_of(const model::HostBatch& b, int64_t r) {
  auto slice = [&](const std::vector<int32_t>& v) {
    return std::vector<int32_t>(v.begin() + r * b.time, v.begin() + (r + 1) * b.time);
  };
  return {1, b.time, slice(b.ids), slice(b.targets), slice(b.positions), slice(b.documents)};
}

TEST(Trainer, GradientAccumulationEqualsOneLargerBatch) {
  io::ModelConfig config = test::tiny_config("qwen2");
  model::ModelSetup setup;
  setup.full = true;
  model::HostBatch both = test::tiny_batch(config, 12);
  ops::AdamwOptions adamw{.weight_decay = 0.1, .max_grad_norm = 0.5};
  auto large = new_model(config, setup, 9), accumulated = new_model(config, setup, 9);
  train::TrainingStep one(*large, {2, both.time, 1, false}, adamw);
  train::TrainingStep two(*accumulated, {1, both.time, 2, false}, adamw);
  for (int64_t s = 1; s <= 3; ++s) {
    auto a = one.run({both}, 1e-2, s, 0);
    auto b = two.run({row_of(both, 0), row_of(both, 1)}, 1e-2, s, 0);
    // The mean is over the targets of both micro-batches, as over one batch of two rows; only
    // the order of f32 sums differs.
    EXPECT_EQ(a.targets, b.targets);
    EXPECT_NEAR(a.loss, b.loss, 1e-5 * a.loss) << "step " << s;
    EXPECT_NEAR(a.grad_norm, b.grad_norm, 1e-4 * a.grad_norm) << "step " << s;
  }
  // Adam moves every weight by about lr whatever its gradient's size, so where the true gradient
  // is zero the update follows rounding noise: k_proj's bias adds q.b to all of a query's scores
  // alike, which the softmax ignores. Every other weight agrees to 1e-4 of its largest value.
  for (const auto& p : large->parameters().all()) {
    if (p.spec.name.ends_with("k_proj.bias")) continue;
    EXPECT_LT(test::relative_error(accumulated->parameters().read(p.spec.name),
                                   large->parameters().read(p.spec.name)),
              1e-4)
        << p.spec.name;
  }
}

}  // namespace
}  // namespace vktrain

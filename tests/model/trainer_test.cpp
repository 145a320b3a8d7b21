// The trainer end to end on the device: a tiny model pre-trained from random weights learns a
// copy task (loss and held-out accuracy bounds), a run stopped and resumed from its checkpoint
// gives the same losses, bit for bit, as one that never stopped, and a bad batch fails the run
// where its step would start.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "io/peft_adapter.hpp"
#include "model/init.hpp"
#include "model/layout.hpp"
#include "model/pretrained.hpp"
#include "model/copy_task.hpp"
#include "model/tiny_models.hpp"
#include "support/support.hpp"
#include "train/checkpoint_files.hpp"
#include "train/trainer.hpp"

namespace vktrain {
namespace {

TEST(Trainer, PretrainingFromRandomWeightsLearnsToCopy) {
  io::ModelConfig config = test::copy_model_config(64, 128, 2, 16);
  model::ModelSetup setup;
  setup.full = true;
  // Initialised as `vktrain init` and transformers do.
  model::Transformer m(test::context(), config, setup);
  for (const auto& [name, values] : model::initial_weights(config, 7))
    m.parameters().write(name, values);
  data::Batcher train = test::copy_batcher(4096, 1, 16, true);
  data::Batcher held_out = test::copy_batcher(128, 2, 16, false);
  test::TempDir dir;
  train::TrainerOptions options =
      test::copy_options(dir.file("run"), 80, 16, {train::LrSchedule::cosine, 3e-3, 10, 0, 3e-4});
  options.adamw.weight_decay = 0.01;
  options.eval_every = 40;
  const double before = test::copy_accuracy(m, held_out);
  const test::CopyRun run = test::train_copy(m, train, held_out, options);
  // ln 20 = 3.0 is chance on the copied symbols. The bounds leave a margin over what the run
  // reaches on lavapipe (printed below), and far exceed chance.
  std::printf("copy task: loss %.3f -> %.3f, held-out loss %.3f, accuracy %.3f -> %.3f\n",
              run.first_loss, run.last_loss, run.loss, before, run.accuracy);
  EXPECT_GT(run.first_loss, 2.5);
  EXPECT_LT(run.loss, 0.5);
  EXPECT_GT(run.accuracy, 0.9);
  EXPECT_TRUE(std::filesystem::exists(options.run_dir + "/checkpoint-80/model.safetensors"));
}

model::ModelSetup dropout_lora() {
  model::ModelSetup setup;
  setup.lora.rank = 4;
  setup.lora.alpha = 8;
  setup.lora.dropout = 0.1f;
  setup.lora.targets = model::parse_lora_targets("q,v,down");
  return setup;
}

// 40 examples of 3 to 9 tokens; packed, a few steps of 2 micro-batches of 2 x 16 per epoch.
std::vector<data::TokenSequence> resume_examples() {
  std::mt19937 rng(4);
  std::vector<data::TokenSequence> examples;
  for (int i = 0; i < 40; ++i) {
    data::TokenSequence e;
    for (int t = 0; t < 3 + i % 7; ++t) e.tokens.push_back(int32_t(rng() % 97));
    examples.push_back(e);
  }
  return examples;
}

data::Batcher resume_data() { return data::Batcher(resume_examples(), {.batch = 2, .time = 16, .seed = 9}); }

train::TrainerOptions trainer_options(const std::string& run_dir, int64_t steps,
                                      int64_t micro_batches) {
  train::TrainerOptions options;
  options.run_dir = run_dir;
  options.steps = steps;
  options.shape = {2, 16, micro_batches, false};
  options.adamw.weight_decay = 0.1;
  options.adamw.max_grad_norm = 0.5;
  options.schedule = {train::LrSchedule::linear, 1e-2, 2, 0, 0};
  options.seed = 77;
  options.settings = {{"model", "tiny llama"}, {"lora_rank", 4}};
  return options;
}

std::vector<double> run_losses(const std::string& run_dir, int64_t steps, bool resume,
                               int64_t stop_after) {
  auto m = test::random_model(test::tiny_config("llama"), dropout_lora(), 5);
  data::Batcher batches = resume_data();
  train::TrainerOptions options = trainer_options(run_dir, steps, 2);
  options.resume = resume;
  train::Trainer trainer(*m, batches, nullptr, options);
  std::vector<double> losses;
  trainer.run([&](const train::StepReport& r) {
    losses.push_back(r.loss);
    return r.step == stop_after;
  });
  return losses;
}

int count_lines(const std::string& path) {
  std::ifstream file(path);
  int lines = 0;
  for (std::string line; std::getline(file, line);) ++lines;
  return lines;
}

// The trainer builds step n+1's batches while step n runs, from a copy of the data position and
// random state: stopped after step 3, and after the last step of the first epoch (its prepared
// successor starts the second epoch), the resumed run must neither skip nor repeat a batch.
TEST(Trainer, ResumingGivesTheLossesOfAnUninterruptedRun) {
  test::TempDir dir;
  std::vector<double> straight = run_losses(dir.file("straight"), 7, false, -1);
  ASSERT_EQ(straight.size(), 7u);
  const int64_t epoch_end = resume_data().batches_in_epoch(0) / 2;
  ASSERT_GT(epoch_end, 1);
  ASSERT_LT(epoch_end, 6);
  for (int64_t stop : {int64_t(3), epoch_end}) {
    const std::string run = dir.file(fmt::format("resumed-{}", stop));
    std::vector<double> first = run_losses(run, 7, false, stop);
    std::vector<double> rest = run_losses(run, 7, true, -1);
    ASSERT_EQ(first.size(), size_t(stop));
    ASSERT_EQ(rest.size(), size_t(7 - stop));
    first.insert(first.end(), rest.begin(), rest.end());
    EXPECT_EQ(first, straight) << "stopped after step " << stop;
    EXPECT_EQ(count_lines(run + "/metrics.jsonl"), 7);
  }
  // Same seed, same losses.
  EXPECT_EQ(run_losses(dir.file("again"), 7, false, -1), straight);
}

// Step 3's batch holds a token outside the vocabulary. It is found while step 2 runs (step 3 is
// prepared then), but fails the run only where step 3 would be submitted: step 2 is reported
// and checkpointed first, as without the overlap.
TEST(Trainer, BadBatchFailsWhereItsStepWouldBeSubmitted) {
  auto m = test::random_model(test::tiny_config("llama"), dropout_lora(), 5);
  std::vector<data::TokenSequence> examples(8, data::TokenSequence{{1, 2, 3, 4, 5, 6}, {}});
  examples[5].tokens[0] = 97 + 3;
  data::Batcher batches(examples, {.batch = 2, .time = 16, .pack = false, .shuffle = false});
  test::TempDir dir;
  train::TrainerOptions options = trainer_options(dir.file("run"), 4, 1);
  options.save_every = 2;
  train::Trainer trainer(*m, batches, nullptr, options);
  int64_t reported = 0;
  std::string error = test::error_message([&] {
    trainer.run([&](const train::StepReport& r) {
      reported = r.step;
      return false;
    });
  });
  EXPECT_NE(error.find("token id 100 is outside the vocabulary of 97"), std::string::npos)
      << error;
  EXPECT_EQ(reported, 2);
  EXPECT_EQ(trainer.step(), 2);
  EXPECT_EQ(count_lines(dir.file("run") + "/metrics.jsonl"), 2);
  EXPECT_TRUE(std::filesystem::exists(dir.file("run") + "/checkpoint-2/trainer_state.json"));
}

// Row `r` of a batch as a batch of one row.
data::HostBatch row_of(const data::HostBatch& b, int64_t r) {
  auto slice = [&](const std::vector<int32_t>& v) {
    return std::vector<int32_t>(v.begin() + r * b.time, v.begin() + (r + 1) * b.time);
  };
  return {1, b.time, slice(b.ids), slice(b.targets), slice(b.positions), slice(b.documents)};
}

TEST(Trainer, GradientAccumulationEqualsOneLargerBatch) {
  io::ModelConfig config = test::tiny_config("qwen2");
  model::ModelSetup setup;
  setup.full = true;
  data::HostBatch both = test::tiny_batch(config, 12);
  ops::AdamwOptions adamw{.weight_decay = 0.1, .max_grad_norm = 0.5};
  auto large = test::random_model(config, setup, 9);
  auto accumulated = test::random_model(config, setup, 9);
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

// `train --adapter`: an adapter saved by one run loads bit for bit into a new model, and the first
// step of a run continuing it scores exactly the loss the saved adapter gives on that batch (the
// step's loss is taken before its update), with a fresh optimizer.
TEST(Trainer, ContinuingASavedAdapterStartsWhereItEnded) {
  io::ModelConfig config = test::tiny_config("llama");
  model::ModelSetup setup = dropout_lora();
  setup.lora.dropout = 0;  // dropout would make the training loss differ from evaluation's
  auto first = test::random_model(config, setup, 5);
  data::Batcher batches = resume_data();
  test::TempDir dir;
  train::Trainer(*first, batches, nullptr, trainer_options(dir.file("first"), 3, 2)).run();
  io::write_peft_adapter(dir.file("adapter"), train::adapter_of(*first, "tiny llama"));

  io::PeftAdapter adapter = model::read_fitting_adapter(dir.file("adapter"), config);
  EXPECT_EQ(adapter.lora.rank, 4);
  EXPECT_EQ(adapter.lora.targets, setup.lora.targets);
  auto continued = test::random_model(config, setup, 5);  // the same base, other LoRA values
  model::load_adapter_weights(continued->parameters(), config, adapter);
  for (const auto& spec : model::lora_parameters(config, setup.lora))
    EXPECT_EQ(continued->parameters().read(spec.name), first->parameters().read(spec.name)) << spec.name;

  // Step 1 of the continued run trains on the batch the evaluation scores.
  data::Batcher in_order(resume_examples(), {.batch = 2, .time = 16, .shuffle = false});
  train::TrainerOptions options = trainer_options(dir.file("continued"), 1, 1);
  options.eval_batches = 1;
  options.schedule.warmup_steps = 0;  // a first step at lr 0 would not move the adapter
  train::Trainer trainer(*continued, in_order, &in_order, options);
  const double adapter_loss = trainer.evaluate();
  double first_step_loss = 0;
  trainer.run([&](const train::StepReport& r) {
    first_step_loss = r.loss;
    return false;
  });
  std::printf("continued adapter: evaluation %.9g, first step %.9g\n", adapter_loss, first_step_loss);
  // The step takes the mean on the device (the sum times 1/count in f32), evaluation divides the
  // sum by the count on the host: the same sum, rounded once differently.
  EXPECT_NEAR(first_step_loss, adapter_loss, 1e-6 * adapter_loss);
  // The model that saved the adapter scores that batch with exactly the same bits.
  train::TrainerOptions saved_options = trainer_options(dir.file("saved"), 1, 1);
  saved_options.eval_batches = 1;
  train::Trainer saved(*first, in_order, &in_order, saved_options);
  EXPECT_EQ(saved.evaluate(), adapter_loss);
  // The optimizer ran: the adapter moved on from the saved one.
  EXPECT_NE(continued->parameters().read(model::lora_parameters(config, setup.lora)[0].name),
            first->parameters().read(model::lora_parameters(config, setup.lora)[0].name));
}

}  // namespace
}  // namespace vktrain

// TrainingStep's split API on the device: a step submitted while the next one is prepared in the
// other input slot trains exactly what run() trains, and a bad batch fails on the host, naming
// the value, before anything is written or submitted.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "model/tiny_models.hpp"
#include "support/support.hpp"
#include "train/step.hpp"

namespace vktrain {
namespace {

// LoRA with dropout (the dropout seed is a step input), and full fine-tuning (the embedding
// trains: the tokens-by-id order is a step input too).
model::ModelSetup setup(bool full) {
  model::ModelSetup s;
  if (full) {
    s.full = true;
  } else {
    s.lora = {.rank = 4, .alpha = 8, .dropout = 0.1f,
              .targets = model::parse_lora_targets("all-linear")};
  }
  return s;
}

// K = 2 micro-batches per step, different for every step; on even steps the second one has no
// document ids (the step writes zeros for them).
std::vector<data::HostBatch> micro_batches(const io::ModelConfig& config, int64_t step) {
  std::vector<data::HostBatch> micro = {test::tiny_batch(config, uint32_t(10 * step)),
                                         test::tiny_batch(config, uint32_t(10 * step + 1))};
  if (step % 2 == 0) micro[1].documents.clear();
  return micro;
}

class StepOverlapTest : public testing::TestWithParam<bool> {};

TEST_P(StepOverlapTest, SubmitPrepareFinishGivesTheLossesOfRun) {
  const io::ModelConfig config = test::tiny_config("qwen3");
  const ops::AdamwOptions adamw{.weight_decay = 0.1, .max_grad_norm = 0.5};
  const int64_t T = micro_batches(config, 1)[0].time;
  auto plain = test::random_model(config, setup(GetParam()), 11);
  auto overlapped = test::random_model(config, setup(GetParam()), 11);
  train::TrainingStep a(*plain, {2, T, 2, false}, adamw);
  train::TrainingStep b(*overlapped, {2, T, 2, false}, adamw);
  constexpr int64_t kSteps = 4;
  std::vector<train::StepResult> want, got;
  for (int64_t s = 1; s <= kSteps; ++s)
    want.push_back(a.run(micro_batches(config, s), 1e-2, s, int32_t(7 * s)));
  // As the trainer does: step s+1 is written into the other slot while step s runs.
  b.prepare(micro_batches(config, 1), 1e-2, 1, 7);
  for (int64_t s = 1; s <= kSteps; ++s) {
    b.submit();
    if (s < kSteps) b.prepare(micro_batches(config, s + 1), 1e-2, s + 1, int32_t(7 * (s + 1)));
    got.push_back(b.finish());
  }
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].loss, want[i].loss) << "step " << i + 1;
    EXPECT_EQ(got[i].grad_norm, want[i].grad_norm) << "step " << i + 1;
    EXPECT_EQ(got[i].targets, want[i].targets) << "step " << i + 1;
  }
  EXPECT_NE(want[0].loss, want[1].loss);  // the steps did train different batches
}

INSTANTIATE_TEST_SUITE_P(Modes, StepOverlapTest, testing::Bool(),
                         [](const auto& info) { return info.param ? "full" : "lora"; });

TEST(StepOverlap, BadBatchFailsBeforeAnythingIsWrittenOrSubmitted) {
  const io::ModelConfig config = test::tiny_config("llama");
  const int64_t T = micro_batches(config, 1)[0].time;
  auto reference = test::random_model(config, setup(false), 11);
  auto m = test::random_model(config, setup(false), 11);
  train::TrainingStep want(*reference, {2, T, 2, false}, {});
  train::TrainingStep step(*m, {2, T, 2, false}, {});
  const double want_loss = want.run(micro_batches(config, 1), 1e-3, 1, 3).loss;

  auto bad_id = micro_batches(config, 2);
  bad_id[1].ids[5] = int32_t(config.vocab_size) + 4;
  auto bad_target = micro_batches(config, 2);
  bad_target[0].targets[3] = int32_t(config.vocab_size);
  const std::string id_error = fmt::format("token id {} is outside the vocabulary of {}",
                                           config.vocab_size + 4, config.vocab_size);
  const std::string target_error = fmt::format("target {} is outside the vocabulary of {}",
                                               config.vocab_size, config.vocab_size);

  // Nothing prepared yet: a bad batch leaves nothing to submit.
  EXPECT_NE(test::error_message([&] { step.prepare(bad_id, 1e-3, 1, 3); }).find(id_error),
            std::string::npos);
  EXPECT_NE(test::error_message([&] { step.submit(); }).find("no step prepared"),
            std::string::npos);
  // A good step prepared, then a bad one for the same (free) slot: the good one stays whole.
  step.prepare(micro_batches(config, 1), 1e-3, 1, 3);
  EXPECT_NE(test::error_message([&] { step.prepare(bad_target, 1e-3, 1, 3); }).find(target_error),
            std::string::npos);
  step.submit();
  // And while a step is in flight: its inputs are untouched, its result is run()'s.
  EXPECT_NE(test::error_message([&] { step.prepare(bad_id, 1e-3, 2, 4); }).find(id_error),
            std::string::npos);
  EXPECT_NE(test::error_message([&] { step.submit(); }).find("still in flight"),
            std::string::npos);
  EXPECT_EQ(step.finish().loss, want_loss);
  EXPECT_NE(test::error_message([&] { step.finish(); }).find("no step in flight"),
            std::string::npos);
  // The evaluator checks a batch where the step does (train/batch_upload.hpp), alike.
  EXPECT_NE(test::error_message([&] { step.evaluator().loss(bad_id[1]); }).find(id_error),
            std::string::npos);
}

}  // namespace
}  // namespace vktrain

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>

#include "support/support.hpp"
#include "train/train_state.hpp"

using namespace vktrain;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

json settings() {
  return {{"model", "/models/Qwen3-0.6B"}, {"mode", "lora"},
          {"lora", {{"rank", 16}, {"targets", {"q_proj", "v_proj"}}}},
          {"seq_len", 512}, {"batch", 8}, {"grad_accum", 2}, {"dtype", "bf16"}};
}

train::TrainState sample_state() {
  train::TrainState s;
  s.step = 120;
  s.epoch = 1;
  s.data_position = 960;
  s.shuffle_seed = 0x9E3779B97F4A7C15ull;
  s.rng = {1, std::numeric_limits<uint64_t>::max(), 0x0123456789ABCDEFull, 0};
  s.loss_scale = 0.1;  // not a power of two: the double must come back exactly
  s.settings = settings();
  return s;
}

std::string read_error(const test::TempDir& dir) {
  return test::error_message([&] { train::read_train_state(dir.path.string()); });
}

}  // namespace

TEST(TrainState, RoundTrip) {
  test::TempDir dir;
  train::TrainState want = sample_state();
  train::write_train_state(dir.path.string(), want);
  train::TrainState got = train::read_train_state(dir.path.string());
  EXPECT_EQ(got.step, want.step);
  EXPECT_EQ(got.epoch, want.epoch);
  EXPECT_EQ(got.data_position, want.data_position);
  EXPECT_EQ(got.shuffle_seed, want.shuffle_seed);
  EXPECT_EQ(got.rng, want.rng);
  EXPECT_EQ(got.loss_scale, want.loss_scale);
  EXPECT_EQ(got.settings, want.settings);
  EXPECT_TRUE(fs::exists(dir.file(train::kTrainStateFile)));
}

TEST(TrainState, ErrorsNameTheFileAndTheField) {
  test::TempDir dir;
  const std::string file = dir.file(train::kTrainStateFile);
  EXPECT_NE(read_error(dir).find("cannot open " + file), std::string::npos) << read_error(dir);
  dir.write(train::kTrainStateFile, "{\"step\": 3,");
  EXPECT_NE(read_error(dir).find(file + ": not valid JSON"), std::string::npos)
      << read_error(dir);

  train::write_train_state(dir.path.string(), sample_state());
  json good = json::parse(std::ifstream(file));
  auto with = [&](const char* key, const std::optional<json>& value) {  // nullopt: without it
    json j = good;
    if (value) j[key] = *value;
    else j.erase(key);
    dir.write(train::kTrainStateFile, j.dump());
    return read_error(dir);
  };
  EXPECT_NE(with("rng", std::nullopt).find(file + ": missing field 'rng'"), std::string::npos);
  EXPECT_NE(with("step", "twelve").find(file + ": field 'step' has the wrong type (\"twelve\")"),
            std::string::npos);
  EXPECT_NE(with("data_position", -4).find("field 'data_position' is -4; it must be a count in"),
            std::string::npos);
  EXPECT_NE(with("loss_scale", 0).find("field 'loss_scale' is 0; it must be in (0, "),
            std::string::npos);
  // Issue 14: `"rng": []` was a SIGSEGV on --resume (the trainer reads rng[0]).
  EXPECT_NE(with("rng", json::array()).find(file + ": field 'rng' is []; it must list the generator's state"),
            std::string::npos) << with("rng", json::array());
  EXPECT_NE(with("rng", json::array({-1})).find("field 'rng' holds -1, not an unsigned"),
            std::string::npos) << with("rng", json::array({-1}));
  EXPECT_NE(with("shuffle_seed", 1.5).find("field 'shuffle_seed' has the wrong type (1.5)"),
            std::string::npos);
  EXPECT_NE(with("step", 9007199254740993ll).find("field 'step' is 9007199254740993; it must be"),
            std::string::npos);
  EXPECT_NE(with("settings", json::parse(std::string(300, '[') + std::string(300, ']')))
                .find("JSON nested deeper than 256"),
            std::string::npos);
  EXPECT_NE(with("settings", json::array()).find("field 'settings' is not an object"),
            std::string::npos);
  EXPECT_NE(with("version", 2).find("field 'version' is 2; this vktrain reads version 1"),
            std::string::npos);
}

TEST(TrainState, ResumeRequiresTheSameSettingsNamingTheFirstDifference) {
  train::TrainState saved = sample_state();
  auto resume_error = [&](const json& now) {
    return test::error_message(
        [&] { train::require_same_settings(saved, now, "runs/a/checkpoint-120"); });
  };
  EXPECT_EQ(resume_error(settings()), "");

  json now = settings();
  now["seq_len"] = 1024;
  now["batch"] = 4;  // "batch" sorts before "seq_len": it is the one named
  EXPECT_EQ(resume_error(now),
            "[train] cannot resume from runs/a/checkpoint-120: setting 'batch' was 8 there and "
            "is 4 now; resume with the same settings or start a new run");

  now = settings();
  now["lora"]["rank"] = 8;
  EXPECT_NE(resume_error(now).find("setting 'lora.rank' was 16 there and is 8 now"),
            std::string::npos);

  now = settings();
  now.erase("dtype");
  EXPECT_NE(resume_error(now).find("setting 'dtype' was \"bf16\" there and is absent now"),
            std::string::npos);
}

// A step's micro-batches over all ranks decide the training: a checkpoint of 1 rank x
// --grad-accum 2 resumes on 2 ranks x 1 (and back); other products are refused naming both.
TEST(TrainState, ResumeOnOtherRanksKeepsTheMicroBatchesOfAStep) {
  train::TrainState saved = sample_state();  // one rank, grad_accum 2
  auto resume_error = [&](const json& now) {
    return test::error_message(
        [&] { train::require_same_settings(saved, now, "runs/a/checkpoint-120"); });
  };
  json now = settings();
  now["grad_accum"] = 1;
  now["ranks"] = 2;
  EXPECT_EQ(resume_error(now), "");
  now["ranks"] = 4;
  EXPECT_EQ(resume_error(now),
            "[train] cannot resume from runs/a/checkpoint-120: its steps took 2 micro-batches "
            "(ranks x --grad-accum: 1 x 2), this run's 4 x 1; resume with ranks x --grad-accum "
            "= 2 or start a new run");
  saved.settings = now;  // 4 ranks x 1 back on one rank
  EXPECT_NE(resume_error(settings()).find("its steps took 4 micro-batches (ranks x --grad-accum: "
                                          "4 x 1), this run's 1 x 2"),
            std::string::npos);
  // A count that is no count is compared as it is.
  saved.settings["ranks"] = "four";
  EXPECT_NE(resume_error(now).find("setting 'ranks' was \"four\" there and is 4 now"),
            std::string::npos);
}

TEST(TrainState, CheckpointDirectories) {
  EXPECT_EQ(train::checkpoint_dir("runs/a", 12), "runs/a/checkpoint-12");
  test::TempDir dir;
  EXPECT_EQ(train::latest_checkpoint(dir.file("no-such-run")), std::nullopt);
  EXPECT_EQ(train::latest_checkpoint(dir.path.string()), std::nullopt);

  auto make = [&](const std::string& name, bool complete) {
    fs::create_directories(dir.path / name);
    if (complete) train::write_train_state((dir.path / name).string(), sample_state());
  };
  make("checkpoint-2", true);
  make("checkpoint-10", true);
  make("checkpoint-9", true);
  make("checkpoint-11.tmp-4242", true);  // a write in progress, or the remains of a crash
  make("checkpoint-12", false);          // not a checkpoint vktrain wrote
  make("checkpoint-x", true);
  make("checkpoint-", true);
  dir.write("checkpoint-20", "a file");
  EXPECT_EQ(train::latest_checkpoint(dir.path.string()), dir.file("checkpoint-10"));
}

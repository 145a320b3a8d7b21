// The run directory (train/run_directory.hpp): which starts it allows, its lock, the clean-up
// of killed runs' temporaries, --overwrite, and a failed start that leaves nothing behind.
// (tests/cli/run_*.sh drive the same through `vktrain train`, processes and signals included.)
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/support.hpp"
#include "train/run_directory.hpp"

namespace vktrain {
namespace {

namespace fs = std::filesystem;
using train::RunDirectory;
using train::RunStart;

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string contents(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), {}};
}

// What a finished LoRA run leaves, checkpoint at step 1.
void write_finished_run(const test::TempDir& dir) {
  dir.write("metrics.jsonl", "{\"step\":1}\n");
  dir.write("adapter_config.json", "{}");
  fs::create_directory(dir.file("checkpoint-1"));
  dir.write("checkpoint-1/trainer_state.json", "{}");
  dir.write(train::kRunLockFile, "");
}

TEST(RunDirectory, IsCreatedLockedAndGoneAgainWhenTheStartFails) {
  test::TempDir dir;
  const std::string run = dir.file("runs/a/");
  {
    RunDirectory held(run, RunStart::fresh);
    EXPECT_EQ(held.path(), dir.file("runs/a"));
    EXPECT_EQ(contents(dir.file("runs/a/.vktrain.lock")), std::to_string(::getpid()) + "\n");
    fs::create_directories(held.cache_dir());
    dir.write("runs/a/data-cache/dataset-1.bin", "tokens");
  }  // never begun: a failed start
  EXPECT_TRUE(entries(dir.path).empty());
}

TEST(RunDirectory, StaysOnceBegun) {
  test::TempDir dir;
  {
    RunDirectory held(dir.file("run"), RunStart::fresh);
    held.begin();
  }
  EXPECT_EQ(entries(dir.file("run")), std::vector<std::string>{".vktrain.lock"});
  // The lock went with its holder: the next run takes the directory.
  RunDirectory next(dir.file("run"), RunStart::fresh);
}

TEST(RunDirectory, ASecondRunIsRefusedNamingTheHolder) {
  test::TempDir dir;
  RunDirectory held(dir.file("run"), RunStart::fresh);
  const std::string expected = fmt::format("[train] --out {} is in use by another vktrain run (pid {})",
                                           dir.file("run"), ::getpid());
  EXPECT_EQ(test::error_message([&] { train::check_run_directory(dir.file("run"), RunStart::fresh); })
                .substr(0, expected.size()),
            expected);
  EXPECT_EQ(test::error_message([&] { RunDirectory second(dir.file("run"), RunStart::overwrite); })
                .substr(0, expected.size()),
            expected);
  EXPECT_EQ(entries(dir.file("run")), std::vector<std::string>{".vktrain.lock"});
}

TEST(RunDirectory, APreviousRunNeedsResumeOrOverwrite) {
  test::TempDir dir;
  write_finished_run(dir);
  const std::string run = dir.path.string();
  EXPECT_EQ(test::error_message([&] { train::check_run_directory(run, RunStart::fresh); }),
            "[train] --out " + run + " holds a previous run (adapter_config.json, checkpoint-1, "
            "metrics.jsonl); pass --resume to continue it, --overwrite to replace it, or choose "
            "another --out");
  EXPECT_EQ(test::error_message([&] { RunDirectory again(run, RunStart::fresh); }),
            test::error_message([&] { train::check_run_directory(run, RunStart::fresh); }));
  RunDirectory resumed(run, RunStart::resume);
  resumed.begin();
  EXPECT_TRUE(fs::exists(dir.file("checkpoint-1")));
}

TEST(RunDirectory, OverwriteRemovesOnlyThePreviousOutputsAndOnlyOnceBegun) {
  test::TempDir dir;
  write_finished_run(dir);
  dir.write("notes.txt", "the user's");
  fs::create_directory(dir.file("data-cache"));
  {
    RunDirectory failed(dir.path.string(), RunStart::overwrite);
  }  // a start that fails keeps the previous run
  EXPECT_TRUE(fs::exists(dir.file("checkpoint-1/trainer_state.json")));
  RunDirectory replaced(dir.path.string(), RunStart::overwrite);
  replaced.begin();
  EXPECT_EQ(entries(dir.path), (std::vector<std::string>{".vktrain.lock", "data-cache", "notes.txt"}));
}

TEST(RunDirectory, ADirectoryThatIsNotARunIsRefusedEvenWithOverwrite) {
  test::TempDir dir;
  dir.write("config.json", "{}");
  dir.write("README.md", "a model");
  for (RunStart start : {RunStart::fresh, RunStart::overwrite})
    EXPECT_EQ(test::error_message([&] { RunDirectory r(dir.path.string(), start); }),
              "[train] --out " + dir.path.string() + " is not empty and not a vktrain run "
              "directory (it holds README.md); choose a new or empty directory");
  EXPECT_EQ(entries(dir.path), (std::vector<std::string>{"README.md", "config.json"}));
}

TEST(RunDirectory, ResumeNeedsACheckpoint) {
  test::TempDir dir;
  dir.write("metrics.jsonl", "{\"step\":1}\n");
  for (const std::string& run : {dir.path.string(), dir.file("none")})
    EXPECT_EQ(test::error_message([&] { train::check_run_directory(run, RunStart::resume); }),
              "[train] --resume: " + run + " has no checkpoint to resume from");
  EXPECT_FALSE(fs::exists(dir.file("none")));
}

TEST(RunDirectory, RemovesTheTemporariesOfKilledRuns) {
  test::TempDir dir;
  write_finished_run(dir);
  fs::create_directories(dir.file("checkpoint-2.tmp-4194001"));
  dir.write("checkpoint-2.tmp-4194001/optimizer.safetensors", "half");
  dir.write("metrics.jsonl.tmp", "half");
  dir.write("report.html.tmp", "half");
  fs::create_directories(dir.file("data-cache"));
  dir.write("data-cache/dataset-0123.bin.tmp", "half");
  dir.write("data-cache/dataset-4567.bin", "whole");
  // Killed between AtomicDirectory's two renames: the old copy is the only one.
  fs::create_directories(dir.file("checkpoint-3.old-4194002"));
  dir.write("checkpoint-3.old-4194002/trainer_state.json", "{}");
  dir.write("notes.tmp", "the user's");
  RunDirectory resumed(dir.path.string(), RunStart::resume);
  EXPECT_EQ(entries(dir.path),
            (std::vector<std::string>{".vktrain.lock", "adapter_config.json", "checkpoint-1",
                                      "checkpoint-3", "data-cache", "metrics.jsonl", "notes.tmp"}));
  EXPECT_EQ(entries(dir.file("data-cache")), std::vector<std::string>{"dataset-4567.bin"});
  EXPECT_TRUE(fs::exists(dir.file("checkpoint-3/trainer_state.json")));
}

}  // namespace
}  // namespace vktrain

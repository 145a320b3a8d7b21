#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "support/support.hpp"
#include "train/metrics.hpp"

using namespace vktrain;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<int64_t> steps_of(const std::string& path) {
  std::vector<int64_t> steps;
  for (const auto& line : lines_of(path)) steps.push_back(json::parse(line)["step"].get<int64_t>());
  return steps;
}

void write_steps(const std::string& path, int64_t first, int64_t last) {
  auto log = train::MetricsLog::open(path, first == 1 ? -1 : first - 1);
  for (int64_t s = first; s <= last; ++s) log.write({{"step", s}, {"loss", 1.0 / double(s)}});
}

}  // namespace

TEST(Metrics, EachLineIsOnDiskOnceWritten) {
  test::TempDir dir;
  auto log = train::MetricsLog::open(dir.file("run/metrics.jsonl"), -1);  // makes run/
  log.write({{"step", 1}, {"loss", 2.5}});
  // Read while the log is still open: the line was flushed, not left in a buffer.
  auto lines = lines_of(dir.file("run/metrics.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(json::parse(lines[0]), (json{{"step", 1}, {"loss", 2.5}}));
  EXPECT_NE(test::error_message([&] { log.write(json::array({1, 2})); }).find("JSON object"),
            std::string::npos);
}

TEST(Metrics, NumbersReadBackExactly) {
  test::TempDir dir;
  const std::vector<double> values = {0.1, 1.0 / 3.0, double(2.3456789f), 1e-300,
                                      123456789.123456789, 6.02214076e23, -0.0};
  {
    auto log = train::MetricsLog::open(dir.file("metrics.jsonl"), -1);
    for (size_t i = 0; i < values.size(); ++i) log.write({{"step", i}, {"value", values[i]}});
    log.write({{"step", 99}, {"nan", std::nan("")},
               {"inf", std::numeric_limits<double>::infinity()}});
  }
  auto lines = lines_of(dir.file("metrics.jsonl"));
  ASSERT_EQ(lines.size(), values.size() + 1);
  for (size_t i = 0; i < values.size(); ++i) {
    double back = json::parse(lines[i])["value"].get<double>();
    EXPECT_EQ(back, values[i]) << lines[i];
    EXPECT_EQ(std::signbit(back), std::signbit(values[i])) << lines[i];
  }
  EXPECT_EQ(float(json::parse(lines[2])["value"].get<double>()), 2.3456789f);
  // JSON has no NaN or infinity; the line stays valid JSON.
  EXPECT_EQ(json::parse(lines.back()), (json{{"step", 99}, {"nan", nullptr}, {"inf", nullptr}}));
}

TEST(Metrics, ResumeKeepsStepsUpToTheCheckpointAndDropsLaterOnes) {
  test::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  write_steps(path, 1, 5);
  {
    auto log = train::MetricsLog::open(path, 5);
    log.write({{"step", 4}, {"eval_loss", 0.5}});  // records other than the loss carry a step too
  }
  EXPECT_EQ(steps_of(path), (std::vector<int64_t>{1, 2, 3, 4, 5, 4}));
  write_steps(path, 4, 6);  // resumed from a checkpoint at step 3: steps 4 and 5 are redone
  EXPECT_EQ(steps_of(path), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(json::parse(lines_of(path)[3])["loss"].get<double>(), 0.25);
  // The rewrite went through a temporary that is gone.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), {}), 1);
}

TEST(Metrics, ResumeDropsALastLineCutShortByACrash) {
  test::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  write_steps(path, 1, 3);
  std::ofstream(path, std::ios::app) << R"({"step": 4, "lo)";
  train::MetricsLog::open(path, 10).write({{"step", 4}, {"loss", 0.25}});
  EXPECT_EQ(steps_of(path), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(Metrics, ResumeRefusesAMalformedLineBeforeTheLast) {
  test::TempDir dir;
  const std::string path =
      dir.write("metrics.jsonl", "{\"step\": 1}\n{\"loss\": 2}\n{\"step\": 3}\n");
  std::string message = test::error_message([&] { train::MetricsLog::open(path, 3); });
  EXPECT_NE(message.find(path + ": line 2 is not a JSON object with an integer \"step\""),
            std::string::npos)
      << message;
  EXPECT_EQ(lines_of(path).size(), 3u);  // left as it was
}

TEST(Metrics, ANewRunReplacesAnOldLogAndAResumeWithoutOneStartsEmpty) {
  test::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  write_steps(path, 1, 3);
  train::MetricsLog::open(path, -1);
  EXPECT_TRUE(lines_of(path).empty());
  fs::remove(path);
  train::MetricsLog::open(path, 7).write({{"step", 8}});
  EXPECT_EQ(steps_of(path), (std::vector<int64_t>{8}));
}

// report.html marks where a run resumed: the log must say it, on the first record after.
TEST(Metrics, TheFirstRecordAfterAResumeSaysWhereItResumed) {
  test::TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  write_steps(path, 1, 5);
  write_steps(path, 4, 6);  // resumed from checkpoint-3
  write_steps(path, 7, 8);  // resumed from checkpoint-6
  std::vector<std::string> lines = lines_of(path);
  ASSERT_EQ(lines.size(), 8u);
  for (size_t i = 0; i < lines.size(); ++i) {
    json record = json::parse(lines[i]);
    int64_t want = i == 3 ? 3 : i == 6 ? 6 : -1;
    EXPECT_EQ(record.value("resumed_from", int64_t(-1)), want) << lines[i];
  }
  // A new run's log has no mark.
  write_steps(path, 1, 2);
  for (const auto& line : lines_of(path)) EXPECT_FALSE(json::parse(line).contains("resumed_from"));
}

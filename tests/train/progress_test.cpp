#include "train/progress.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "train/human_format.hpp"

using namespace vktrain;
using train::StepReport;

namespace {

StepReport step_report(int64_t step, int64_t steps, double seconds = 0.5, int64_t tokens = 1000) {
  StepReport r;
  r.step = step;
  r.steps = steps;
  r.loss = 1.23449;
  r.lr = 2e-4;
  r.tokens = tokens;
  r.seconds = seconds;
  return r;
}

// "step 5/12" of each line printed.
std::vector<std::string> printed_steps(const std::string& text) {
  std::vector<std::string> steps;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    steps.push_back(line.substr(0, line.find(' ', 5)));
  return steps;
}

}  // namespace

TEST(HumanFormat, DurationsInSecondsMinutesAndHours) {
  EXPECT_EQ(train::format_duration(0), "0s");
  EXPECT_EQ(train::format_duration(42.4), "42s");
  EXPECT_EQ(train::format_duration(59.6), "1m00s");  // rounded before it is split
  EXPECT_EQ(train::format_duration(192), "3m12s");
  EXPECT_EQ(train::format_duration(3599), "59m59s");
  EXPECT_EQ(train::format_duration(3600), "1h00m");
  EXPECT_EQ(train::format_duration(7500), "2h05m");
  EXPECT_EQ(train::format_duration(200000), "55h33m");
  EXPECT_EQ(train::format_duration(-1), "--");
  EXPECT_EQ(train::format_duration(NAN), "--");
  EXPECT_EQ(train::format_duration(INFINITY), "--");
}

TEST(HumanFormat, CountsAndBytes) {
  EXPECT_EQ(train::format_count(0), "0");
  EXPECT_EQ(train::format_count(999), "999");
  EXPECT_EQ(train::format_count(12345), "12,345");
  EXPECT_EQ(train::format_count(1234567), "1,234,567");
  EXPECT_EQ(train::format_count(-1234), "-1,234");
  EXPECT_EQ(train::format_count(INT64_MIN), "-9,223,372,036,854,775,808");
  EXPECT_EQ(train::format_bytes(uint64_t(5.4 * 1024 * 1024 * 1024)), "5.4 GiB");
  EXPECT_EQ(train::format_bytes(812ull << 20), "812 MiB");
  EXPECT_EQ(train::format_bytes(512ull << 10), "0.5 MiB");
}

TEST(Progress, LineHoldsEveryField) {
  StepReport r = step_report(120, 1000);
  EXPECT_EQ(train::format_progress(r, 12345.4, 192, uint64_t(5.4 * (1ull << 30))),
            "step 120/1000  loss 1.234  lr 2.0e-04  12,345 tok/s  eta 3m12s  mem 5.4 "
            "GiB");
  r.eval_loss = 1.4564;
  EXPECT_EQ(train::format_progress(r, 12345.4, 7500, 0),
            "step 120/1000  loss 1.234  eval 1.456  lr 2.0e-04  12,345 tok/s  "
            "eta 2h05m");
  EXPECT_EQ(train::format_progress(step_report(1, 10), NAN, -1, 0),
            "step 1/10  loss 1.234  lr 2.0e-04  -- tok/s  eta --");
}

TEST(Progress, EtaAndThroughputFollowTheLastSteps) {
  std::ostringstream out;
  train::ProgressLine progress(out, /*terminal=*/false, /*every=*/1,
                               /*window=*/2);
  progress.update(step_report(1, 10, /*seconds=*/9.0));  // a slow first step leaves the window
  progress.update(step_report(2, 10, 1.0));
  progress.update(step_report(3, 10, 1.0));
  std::string text = out.str();
  EXPECT_NE(text.find("step 1/10  loss 1.234  lr 2.0e-04  111 tok/s  eta 1m21s\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("step 2/10  loss 1.234  lr 2.0e-04  200 tok/s  eta 40s\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("step 3/10  loss 1.234  lr 2.0e-04  1,000 tok/s  eta 7s\n"),
            std::string::npos)
      << text;
}

TEST(Progress, PlainOutputPrintsEveryNStepsFirstLastAndEvaluations) {
  std::ostringstream out;
  train::ProgressLine progress(out, /*terminal=*/false, /*every=*/5);
  for (int64_t step = 1; step <= 12; ++step) {
    StepReport r = step_report(step, 12);
    if (step == 7) r.eval_loss = 2.0;
    progress.update(r);
  }
  std::vector<std::string> steps = printed_steps(out.str());
  EXPECT_EQ(steps, (std::vector<std::string>{"step 1/12", "step 5/12", "step 7/12", "step 10/12",
                                             "step 12/12"}));
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

TEST(Progress, TerminalRewritesOneLineAndEndsIt) {
  std::ostringstream out;
  train::ProgressLine progress(out, /*terminal=*/true);
  StepReport first = step_report(1, 2);
  first.eval_loss = 2.0;  // a longer line, which the next must cover
  progress.update(first);
  size_t first_width = out.str().size() - 1;
  progress.update(step_report(2, 2));
  std::string text = out.str();
  EXPECT_EQ(text.front(), '\r');
  EXPECT_EQ(text.back(), '\n');  // the last step ends the line
  size_t second = text.find('\r', 1);
  ASSERT_NE(second, std::string::npos);
  EXPECT_EQ(text.size() - 1 - second - 1, first_width) << "spaces cover the longer line";
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(Progress, NotesGetTheirOwnLine) {
  std::ostringstream out;
  train::ProgressLine progress(out, /*terminal=*/true);
  progress.update(step_report(1, 3));
  progress.note("saved checkpoint-1");
  progress.update(step_report(2, 3));
  std::string text = out.str();
  size_t note = text.find("saved checkpoint-1");
  ASSERT_NE(note, std::string::npos);
  EXPECT_EQ(text[note - 1], '\r');
  EXPECT_EQ(text.substr(text.find('\n', note) + 1, 10), "\rstep 2/3 ");
}

// Into a log, a slow run (seconds a step on a CPU driver) prints at least every `interval` seconds
// of steps, not only every N steps.
TEST(Progress, PlainOutputOfSlowStepsPrintsAtLeastEveryInterval) {
  std::ostringstream out;
  train::ProgressLine progress(out, /*terminal=*/false, /*every=*/10, /*window=*/20,
                               /*interval=*/10);
  for (int64_t step = 1; step <= 12; ++step) progress.update(step_report(step, 12, 4.0));
  std::vector<std::string> steps = printed_steps(out.str());
  EXPECT_EQ(steps, (std::vector<std::string>{"step 1/12", "step 4/12", "step 7/12", "step 10/12",
                                             "step 12/12"}));
  EXPECT_EQ(out.str().find('\r'), std::string::npos);
}

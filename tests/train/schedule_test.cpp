// Learning rates against values worked out by hand from transformers' formulas (schedule.hpp).
#include <gtest/gtest.h>

#include "support/support.hpp"
#include "train/schedule.hpp"

using namespace vktrain;
using train::LrSchedule;

namespace {

double rate(LrSchedule kind, double lr, int64_t warmup, int64_t total, double min_lr,
            int64_t step) {
  return train::learning_rate({kind, lr, warmup, total, min_lr}, step);
}

}  // namespace

TEST(Schedule, ParsesNamesAndRejectsOthersNamingTheOption) {
  for (auto kind : {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine})
    EXPECT_EQ(train::parse_lr_schedule(train::lr_schedule_name(kind)), kind);
  std::string message =
      test::error_message([] { train::parse_lr_schedule("cosine_with_restarts"); });
  EXPECT_NE(message.find("--lr-schedule 'cosine_with_restarts'"), std::string::npos) << message;
  EXPECT_NE(message.find("constant, linear or cosine"), std::string::npos) << message;
}

TEST(Schedule, WarmupStartsAtZeroForEveryKind) {
  // W = 4: lr * s / 4.
  for (auto kind : {LrSchedule::constant, LrSchedule::linear, LrSchedule::cosine}) {
    EXPECT_EQ(rate(kind, 1e-3, 4, 10, 0, 0), 0.0);
    EXPECT_DOUBLE_EQ(rate(kind, 1e-3, 4, 10, 0, 1), 2.5e-4);
    EXPECT_DOUBLE_EQ(rate(kind, 1e-3, 4, 10, 0, 3), 7.5e-4);
    EXPECT_DOUBLE_EQ(rate(kind, 1e-3, 4, 10, 0, 4), 1e-3);  // the peak, where decay begins
  }
}

TEST(Schedule, ConstantHoldsThePeakAndIgnoresMinLr) {
  EXPECT_DOUBLE_EQ(rate(LrSchedule::constant, 1e-3, 4, 10, 1e-4, 9), 1e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::constant, 1e-3, 4, 10, 1e-4, 100), 1e-3);
}

TEST(Schedule, LinearDecaysToZero) {
  // W = 2, N = 10: f = (10 - s) / 8.
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 0, 6), 5e-4);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 0, 9), 1.25e-4);
  EXPECT_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 0, 10), 0.0);
  EXPECT_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 0, 12), 0.0);  // max(0, -2/8)
}

TEST(Schedule, CosineDecaysAlongHalfACosine) {
  // W = 2, N = 10: p = (s - 2) / 8, f = (1 + cos(pi p)) / 2.
  EXPECT_NEAR(rate(LrSchedule::cosine, 1e-3, 2, 10, 0, 4), 8.5355339059327373e-4, 1e-18);  // p 1/4
  EXPECT_NEAR(rate(LrSchedule::cosine, 1e-3, 2, 10, 0, 6), 5e-4, 1e-18);                   // p 1/2
  EXPECT_NEAR(rate(LrSchedule::cosine, 1e-3, 2, 10, 0, 8), 1.4644660940672627e-4, 1e-18);  // p 3/4
  EXPECT_NEAR(rate(LrSchedule::cosine, 1e-3, 2, 10, 0, 10), 0.0, 1e-18);
  // Past N the cosine rises again, as transformers' does (p 3/2: f = 1/2).
  EXPECT_NEAR(rate(LrSchedule::cosine, 1e-3, 2, 10, 0, 14), 5e-4, 1e-18);
}

TEST(Schedule, MinLrIsTheFloorOfLinearAndCosine) {
  // min_lr 1e-4 of lr 1e-3: m = 0.1, rate = lr * (f * 0.9 + 0.1).
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 1e-4, 2), 1e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 1e-4, 6), 5.5e-4);   // f 1/2
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 1e-4, 10), 1e-4);    // f 0
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 2, 10, 1e-4, 12), 1e-4);    // f clamped at 0
  EXPECT_NEAR(rate(LrSchedule::cosine, 1e-3, 2, 10, 1e-4, 4), 8.6819805153394636e-4, 1e-18);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::cosine, 1e-3, 2, 10, 1e-4, 6), 5.5e-4);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::cosine, 1e-3, 2, 10, 1e-4, 10), 1e-4);
  // The warmup still starts at 0, not at min_lr.
  EXPECT_EQ(rate(LrSchedule::cosine, 1e-3, 2, 10, 1e-4, 0), 0.0);
}

TEST(Schedule, NoWarmupStartsAtThePeak) {
  // W = 0, N = 4: linear f = (4 - s) / 4; cosine p = s / 4.
  EXPECT_DOUBLE_EQ(rate(LrSchedule::constant, 2e-3, 0, 4, 0, 0), 2e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 2e-3, 0, 4, 0, 0), 2e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 2e-3, 0, 4, 0, 1), 1.5e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 2e-3, 0, 4, 0, 3), 5e-4);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::cosine, 2e-3, 0, 4, 0, 0), 2e-3);
  EXPECT_NEAR(rate(LrSchedule::cosine, 2e-3, 0, 4, 0, 2), 1e-3, 1e-18);
}

TEST(Schedule, TotalEqualToWarmup) {
  // W = N = 3: the whole run is warmup; at s = N the divisor is max(1, 0) = 1, so linear gives
  // (3 - 3) / 1 = 0 and cosine p = 0, f = 1.
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 3, 3, 0, 2), 1e-3 * (2.0 / 3.0));
  EXPECT_EQ(rate(LrSchedule::linear, 1e-3, 3, 3, 0, 3), 0.0);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::cosine, 1e-3, 3, 3, 0, 3), 1e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::constant, 1e-3, 3, 3, 0, 3), 1e-3);
  EXPECT_DOUBLE_EQ(rate(LrSchedule::linear, 1e-3, 3, 3, 1e-4, 3), 1e-4);
}

TEST(Schedule, ZeroLrStaysZero) {
  EXPECT_EQ(rate(LrSchedule::cosine, 0.0, 2, 10, 0, 5), 0.0);
  EXPECT_EQ(rate(LrSchedule::linear, 0.0, 2, 10, 0, 5), 0.0);
}

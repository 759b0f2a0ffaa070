#include "lowbit/optim/schedule.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <functional>
#include <numbers>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit {
namespace {

using optim::LrSchedule;
using optim::parse_schedule;
using optim::ScheduleConfig;

ScheduleConfig make(const std::string& kind, float base, int64_t epochs, float warmup = 0.f) {
  ScheduleConfig c;
  c.kind = kind;
  c.base_lr = base;
  c.epochs = epochs;
  c.warmup_epochs = warmup;
  return c;
}

using lowbit::testing::error_of;

TEST(Schedule, ConstantIsBaseEverywhere) {
  LrSchedule s(make("constant", 0.01f, 5));
  for (int64_t e = 0; e < 7; ++e)
    for (int64_t k = 0; k < 3; ++k) EXPECT_EQ(s.at(e, k, 3), 0.01f);
}

TEST(Schedule, CosineGoesFromBaseToMinPerStep) {
  ScheduleConfig c = make("cosine", 0.1f, 10);
  c.min_lr = 0.001f;
  LrSchedule s(c);
  const int64_t spe = 7;
  EXPECT_FLOAT_EQ(s.at(0, 0, spe), 0.1f);
  EXPECT_FLOAT_EQ(s.at(5, 0, spe), (0.1f + 0.001f) / 2);  // halfway
  EXPECT_FLOAT_EQ(s.at(10, 0, spe), 0.001f);               // end of the run
  EXPECT_FLOAT_EQ(s.at(12, 3, spe), 0.001f);               // and after it
  EXPECT_GT(s.at(9, spe - 1, spe), 0.001f);                // last step: just above min
  EXPECT_LT(s.at(9, spe - 1, spe), 0.0012f);
  float prev = s.at(0, 0, spe);
  for (int64_t e = 0; e < 10; ++e)
    for (int64_t k = 0; k < spe; ++k) {
      if (e == 0 && k == 0) continue;
      float lr = s.at(e, k, spe);
      EXPECT_LT(lr, prev) << "changes every step, not per epoch: epoch " << e << " step " << k;
      prev = lr;
    }
}

TEST(Schedule, StepDecaysEveryNEpochs) {
  ScheduleConfig c = parse_schedule("step:3:0.5", make("", 0.08f, 10));
  LrSchedule s(c);
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_FLOAT_EQ(s.at(0, k, 4), 0.08f);
    EXPECT_FLOAT_EQ(s.at(2, k, 4), 0.08f);
    EXPECT_FLOAT_EQ(s.at(3, k, 4), 0.04f);
    EXPECT_FLOAT_EQ(s.at(5, k, 4), 0.04f);
    EXPECT_FLOAT_EQ(s.at(6, k, 4), 0.02f);
    EXPECT_FLOAT_EQ(s.at(9, k, 4), 0.01f);
  }
}

TEST(Schedule, ExpDecaysOncePerEpoch) {
  LrSchedule s(parse_schedule("exp:0.9", make("", 1.f, 5)));
  for (int64_t k = 0; k < 5; ++k) {
    EXPECT_FLOAT_EQ(s.at(0, k, 5), 1.f);
    EXPECT_FLOAT_EQ(s.at(1, k, 5), 0.9f);
    EXPECT_FLOAT_EQ(s.at(2, k, 5), 0.81f);  // staircase: constant within the epoch
    EXPECT_FLOAT_EQ(s.at(4, k, 5), 0.6561f);
  }
}

TEST(Schedule, WarmupRampsLinearlyPerStep) {
  LrSchedule s(make("constant", 0.5f, 10, 2.f));
  const int64_t spe = 5;
  ASSERT_EQ(s.warmup_steps(spe), 10);
  for (int64_t step = 0; step < 10; ++step)
    EXPECT_FLOAT_EQ(s.at(step / spe, step % spe, spe), 0.5f * static_cast<float>(step + 1) / 10.f) << step;
  EXPECT_GT(s.at(0, 0, spe), 0.f);  // starts near 0, not at 0: no wasted step
  EXPECT_FLOAT_EQ(s.at(1, spe - 1, spe), 0.5f);
  EXPECT_FLOAT_EQ(s.at(2, 0, spe), 0.5f);
}

TEST(Schedule, FractionalWarmupRoundsUpToWholeSteps) {
  EXPECT_EQ(LrSchedule(make("constant", 1.f, 3, 0.5f)).warmup_steps(4), 2);
  EXPECT_EQ(LrSchedule(make("constant", 1.f, 3, 0.5f)).warmup_steps(5), 3);
  EXPECT_EQ(LrSchedule(make("constant", 1.f, 3, 0.1f)).warmup_steps(10), 1);  // not 2 from 0.1f's rounding
  EXPECT_EQ(LrSchedule(make("constant", 1.f, 3, 0.01f)).warmup_steps(10), 1);
  EXPECT_EQ(LrSchedule(make("constant", 1.f, 3, 0.f)).warmup_steps(10), 0);
  LrSchedule s(make("constant", 1.f, 3, 0.5f));
  EXPECT_FLOAT_EQ(s.at(0, 0, 4), 0.5f);
  EXPECT_FLOAT_EQ(s.at(0, 1, 4), 1.f);
}

TEST(Schedule, CosineStartsAfterWarmup) {
  ScheduleConfig c = make("cosine", 0.2f, 4, 1.f);
  c.min_lr = 0.f;
  LrSchedule s(c);
  const int64_t spe = 10;
  EXPECT_FLOAT_EQ(s.at(0, 0, spe), 0.02f);
  EXPECT_FLOAT_EQ(s.at(0, 9, spe), 0.2f);   // end of warm-up
  EXPECT_FLOAT_EQ(s.at(1, 0, spe), 0.2f);   // cosine progress 0
  EXPECT_NEAR(s.at(2, 5, spe), 0.1f, 1e-7);  // halfway through the 30 cosine steps
  EXPECT_FLOAT_EQ(s.at(4, 0, spe), 0.f);
}

TEST(Schedule, CosineQuarterPointMatchesFormula) {
  ScheduleConfig c = make("cosine", 0.1f, 4);
  c.min_lr = 0.001f;
  LrSchedule s(c);
  const double expected = 0.001 + 0.099 * (1 + std::cos(std::numbers::pi / 4)) / 2;
  EXPECT_NEAR(s.at(1, 0, 4), expected, 1e-7);
}

TEST(Schedule, IsAPureFunctionOfEpochAndStep) {
  ScheduleConfig c = make("cosine", 0.3f, 6, 0.7f);
  LrSchedule a(c), b(c);
  // Querying b backwards (as after a resume) gives exactly a's forward values.
  std::vector<float> forward;
  for (int64_t e = 0; e < 6; ++e)
    for (int64_t k = 0; k < 9; ++k) forward.push_back(a.at(e, k, 9));
  for (int64_t e = 5; e >= 0; --e)
    for (int64_t k = 8; k >= 0; --k) EXPECT_EQ(b.at(e, k, 9), forward[static_cast<size_t>(e * 9 + k)]);
}

TEST(Schedule, ParsesEachForm) {
  ScheduleConfig d = make("constant", 0.01f, 20, 1.f);
  ScheduleConfig c = parse_schedule("step:30:0.2", d);
  EXPECT_EQ(c.kind, "step");
  EXPECT_EQ(c.step_epochs, 30);
  EXPECT_EQ(c.gamma, 0.2f);
  EXPECT_EQ(c.base_lr, 0.01f);  // the rest comes from the defaults
  EXPECT_EQ(c.warmup_epochs, 1.f);
  c = parse_schedule("exp:0.95", d);
  EXPECT_EQ(c.kind, "exp");
  EXPECT_EQ(c.gamma, 0.95f);
  EXPECT_EQ(parse_schedule("cosine", d).kind, "cosine");
  EXPECT_EQ(parse_schedule("constant", make("cosine", 1.f, 1)).kind, "constant");
  EXPECT_EQ(parse_schedule("exp:1e-1", d).gamma, 0.1f);
  for (const char* spec : {"constant", "cosine", "step:30:0.1", "exp:0.95", "step:7:0.333"})
    EXPECT_EQ(optim::schedule_spec(parse_schedule(spec, d)), spec);
}

TEST(Schedule, UnknownSpecListsTheValidForms) {
  for (const char* spec : {"linear", "", "Cosine", "poly:2"}) {
    std::string msg = error_of([&] { parse_schedule(spec, {}); });
    EXPECT_NE(msg.find("constant, step:N:GAMMA, exp:GAMMA, cosine"), std::string::npos) << spec << ": " << msg;
  }
}

TEST(Schedule, MalformedSpecsAreErrors) {
  for (const char* spec : {"step", "step:10", "step:x:0.1", "step:10:y", "step:0:0.1", "step:-3:0.1",
                           "step:2.5:0.1", "step:10:0.1:3", "step:10:", "exp", "exp:", "exp:abc",
                           "exp:0.5x", "exp:-0.5", "exp:0", "exp:nan", "exp:inf", "exp: 0.5", "cosine:0.1",
                           "constant:1"}) {
    std::string msg = error_of([&] { parse_schedule(spec, {}); });
    EXPECT_FALSE(msg.empty()) << spec << " was accepted";
    EXPECT_NE(msg.find(spec), std::string::npos) << msg;  // names the bad spec
  }
}

TEST(Schedule, RejectsBadConfigAndQueries) {
  EXPECT_THROW(LrSchedule(make("linear", 0.1f, 3)), Error);
  EXPECT_THROW(LrSchedule(make("constant", -0.1f, 3)), Error);
  EXPECT_THROW(LrSchedule(make("constant", 0.1f, 0)), Error);
  EXPECT_THROW(LrSchedule(make("constant", 0.1f, 3, -1.f)), Error);
  EXPECT_THROW(LrSchedule(make("cosine", 0.1f, 3, 3.f)), Error);  // warm-up fills the run
  ScheduleConfig c = make("cosine", 0.1f, 3);
  c.min_lr = 0.2f;
  EXPECT_THROW(LrSchedule{c}, Error);
  c = make("step", 0.1f, 3);
  c.step_epochs = 0;
  EXPECT_THROW(LrSchedule{c}, Error);
  c = make("exp", 0.1f, 3);
  c.gamma = 0.f;
  EXPECT_THROW(LrSchedule{c}, Error);
  LrSchedule s(make("constant", 0.1f, 3));
  EXPECT_THROW(s.at(0, 5, 5), Error);
  EXPECT_THROW(s.at(0, -1, 5), Error);
  EXPECT_THROW(s.at(-1, 0, 5), Error);
  EXPECT_THROW(s.at(0, 0, 0), Error);
}

}  // namespace
}  // namespace lowbit

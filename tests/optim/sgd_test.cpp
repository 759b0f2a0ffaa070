#include "lowbit/optim/sgd.hpp"

#include <gtest/gtest.h>

#include "lowbit/core/error.hpp"
#include "optim/optim_test_util.hpp"

namespace lowbit {
namespace {

using optim::Sgd;
using optim::SgdOptions;
using testing::make_param;

constexpr float kTol = 1e-6f;

TEST(Sgd, PlainStepIsLrTimesGradient) {
  nn::Param p = make_param({1.f, -2.f}, {0.5f, 1.f});
  Sgd opt({&p}, SgdOptions{0.f, false, 0.f});
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.95f, kTol);
  EXPECT_NEAR(p.value[1], -2.1f, kTol);
  EXPECT_TRUE(opt.state_tensors().empty());  // no momentum, no state
}

TEST(Sgd, MomentumTwoStepsMatchHandComputed) {
  // v1 = g = [0.5, 1];            w1 = w0 - 0.1 v1 = [0.95, -2.1]
  // v2 = 0.9 v1 + g = [0.95, 1.9]; w2 = w1 - 0.1 v2 = [0.855, -2.29]
  nn::Param p = make_param({1.f, -2.f}, {0.5f, 1.f});
  Sgd opt({&p}, SgdOptions{0.9f, false, 0.f});
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.95f, kTol);
  EXPECT_NEAR(p.value[1], -2.1f, kTol);
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.855f, kTol);
  EXPECT_NEAR(p.value[1], -2.29f, kTol);
  auto state = opt.state_tensors();
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].first, "sgd.momentum.0");
  EXPECT_NEAR((*state[0].second)[0], 0.95f, kTol);
  EXPECT_NEAR((*state[0].second)[1], 1.9f, kTol);
}

TEST(Sgd, NesterovTwoStepsMatchHandComputed) {
  // v1 = g;      u1 = g + 0.9 v1 = 1.9 g;  w1 = [1 - 0.095, -2 - 0.19] = [0.905, -2.19]
  // v2 = 1.9 g;  u2 = g + 0.9 v2 = 2.71 g; w2 = [0.905 - 0.1355, -2.19 - 0.271] = [0.7695, -2.461]
  nn::Param p = make_param({1.f, -2.f}, {0.5f, 1.f});
  Sgd opt({&p}, SgdOptions{0.9f, true, 0.f});
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.905f, kTol);
  EXPECT_NEAR(p.value[1], -2.19f, kTol);
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.7695f, kTol);
  EXPECT_NEAR(p.value[1], -2.461f, kTol);
}

TEST(Sgd, WeightDecayIsAddedToTheGradient) {
  // g' = g + 0.1 w = [0.6, 0.8]; w1 = w0 - 0.1 g' = [0.94, -2.08]
  nn::Param p = make_param({1.f, -2.f}, {0.5f, 1.f});
  Sgd opt({&p}, SgdOptions{0.f, false, 0.1f});
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.94f, kTol);
  EXPECT_NEAR(p.value[1], -2.08f, kTol);
}

TEST(Sgd, WeightDecayEntersTheMomentumBuffer) {
  // step 1: g' = [0.6, 0.8], v = g', w = [0.94, -2.08]
  // step 2: g' = [0.5 + 0.094, 1 - 0.208] = [0.594, 0.792]; v = 0.9 v + g' = [1.134, 1.512]
  //         w = [0.94 - 0.1134, -2.08 - 0.1512] = [0.8266, -2.2312]
  nn::Param p = make_param({1.f, -2.f}, {0.5f, 1.f});
  Sgd opt({&p}, SgdOptions{0.9f, false, 0.1f});
  opt.step(0.1f);
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.8266f, kTol);
  EXPECT_NEAR(p.value[1], -2.2312f, kTol);
}

TEST(Sgd, DecayFalseSkipsWeightDecay) {
  nn::Param p = make_param({1.f, -2.f}, {0.5f, 1.f});
  p.decay = false;
  Sgd opt({&p}, SgdOptions{0.f, false, 0.1f});
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.95f, kTol);
  EXPECT_NEAR(p.value[1], -2.1f, kTol);
}

TEST(Sgd, RejectsBadOptions) {
  nn::Param p = make_param({1.f}, {1.f});
  EXPECT_THROW(Sgd({&p}, SgdOptions{1.f, false, 0.f}), Error);
  EXPECT_THROW(Sgd({&p}, SgdOptions{-0.1f, false, 0.f}), Error);
  EXPECT_THROW(Sgd({&p}, SgdOptions{0.f, true, 0.f}), Error);  // Nesterov needs momentum
  EXPECT_THROW(Sgd({&p}, SgdOptions{0.9f, false, -1.f}), Error);
}

}  // namespace
}  // namespace lowbit

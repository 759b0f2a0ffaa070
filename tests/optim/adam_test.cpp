#include "lowbit/optim/adam.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "lowbit/core/error.hpp"
#include "optim/optim_test_util.hpp"

namespace lowbit {
namespace {

using optim::Adam;
using optim::AdamOptions;
using optim::AdamW;
using testing::make_param;

TEST(Adam, FirstStepMovesEachWeightByLrTimesSignOfGradient) {
  // Step 1: m^ = g, v^ = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g),
  // whatever the gradient's magnitude.
  nn::Param p = make_param({0.f, 1.f, -1.f, 2.f, 3.f}, {1e-3f, -5.f, 100.f, -0.2f, 0.f});
  Adam opt({&p});
  opt.step(0.01f);
  EXPECT_NEAR(p.value[0], -0.01f, 1e-6f);
  EXPECT_NEAR(p.value[1], 1.01f, 1e-6f);
  EXPECT_NEAR(p.value[2], -1.01f, 1e-6f);
  EXPECT_NEAR(p.value[3], 2.01f, 1e-6f);
  EXPECT_EQ(p.value[4], 3.f);  // zero gradient: m = 0, no move
}

TEST(Adam, TwoStepsMatchHandComputed) {
  // b1 = 0.9, b2 = 0.999, lr = 0.1, g1 = 0.5, g2 = -1 (computed in double):
  // t=1: m = 0.05, v = 0.00025, w = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002
  // t=2: m = -0.055, v = 0.00124975, m^ = m / 0.19, v^ = v / 0.001999 -> w = 0.93661035424
  nn::Param p = make_param({1.f}, {0.5f});
  Adam opt({&p});
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.900000002, 1e-6);
  p.grad[0] = -1.f;
  opt.step(0.1f);
  EXPECT_NEAR(p.value[0], 0.93661035424, 1e-5);
  auto state = opt.state_tensors();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "adam.m.0");
  EXPECT_EQ(state[1].first, "adam.v.0");
  EXPECT_NEAR((*state[0].second)[0], -0.055f, 1e-7f);
  // 1 - 0.999f is 0.00100005 in float (beta2 is stored as float), hence the tolerance.
  EXPECT_NEAR((*state[1].second)[0], 0.00124975f, 1e-7f);
  EXPECT_EQ(opt.steps(), 2);
}

TEST(Adam, L2DecayIsNormalisedAwayButAdamWDecayIsNot) {
  // Zero gradient, w = 2, wd = 0.1, lr = 0.01.
  // Adam: g' = wd * w = 0.2 goes through the adaptive scaling -> moves by lr: w = 1.99.
  // AdamW: m = v = 0 so the Adam part is 0; decoupled decay: w = 2 * (1 - lr * wd) = 1.998.
  AdamOptions o;
  o.weight_decay = 0.1f;
  nn::Param a = make_param({2.f}, {0.f});
  nn::Param b = make_param({2.f}, {0.f});
  Adam adam({&a}, o);
  AdamW adamw({&b}, o);
  EXPECT_EQ(adam.name(), "adam");
  EXPECT_EQ(adamw.name(), "adamw");
  adam.step(0.01f);
  adamw.step(0.01f);
  EXPECT_NEAR(a.value[0], 1.99f, 1e-6f);
  EXPECT_NEAR(b.value[0], 1.998f, 1e-6f);
}

TEST(AdamW, DecayIsAppliedToTheWeightBeforeTheAdamStep) {
  // With a gradient: AdamW = (w * (1 - lr wd)) - (Adam step without decay), the Adam
  // step being unaffected by the decay (unlike Adam's L2 term).
  AdamOptions with_wd, no_wd;
  with_wd.weight_decay = 0.5f;
  nn::Param a = make_param({1.f, -3.f}, {0.3f, -0.7f});
  nn::Param b = make_param({1.f, -3.f}, {0.3f, -0.7f});
  nn::Param c = make_param({1.f, -3.f}, {0.3f, -0.7f});
  AdamW decoupled({&a}, with_wd);
  Adam plain({&b}, no_wd);
  Adam l2({&c}, with_wd);
  const float lr = 0.05f;
  for (int t = 0; t < 3; ++t) {
    const float w0 = a.value[0], w1 = a.value[1];
    const float p0 = b.value[0], p1 = b.value[1];
    decoupled.step(lr);
    plain.step(lr);
    l2.step(lr);
    // b's step equals a's Adam part because both see the same gradients.
    EXPECT_NEAR(a.value[0], w0 * (1.f - lr * 0.5f) + (b.value[0] - p0), 1e-6f);
    EXPECT_NEAR(a.value[1], w1 * (1.f - lr * 0.5f) + (b.value[1] - p1), 1e-6f);
  }
  // Adam with L2 follows a different path.
  EXPECT_GT(std::fabs(a.value[0] - c.value[0]), 1e-3f);
  auto state = decoupled.state_tensors();
  ASSERT_EQ(state.size(), 2u);
  EXPECT_EQ(state[0].first, "adamw.m.0");
}

TEST(Adam, DecayFalseSkipsWeightDecayInBothVariants) {
  AdamOptions o;
  o.weight_decay = 0.1f;
  nn::Param a = make_param({2.f}, {0.f});
  nn::Param b = make_param({2.f}, {0.f});
  a.decay = b.decay = false;
  Adam adam({&a}, o);
  AdamW adamw({&b}, o);
  adam.step(0.01f);
  adamw.step(0.01f);
  EXPECT_EQ(a.value[0], 2.f);
  EXPECT_EQ(b.value[0], 2.f);
}

TEST(Adam, RejectsBadOptions) {
  nn::Param p = make_param({1.f}, {1.f});
  EXPECT_THROW(Adam({&p}, AdamOptions{1.f, 0.999f, 1e-8f, 0.f}), Error);
  EXPECT_THROW(Adam({&p}, AdamOptions{0.9f, 1.f, 1e-8f, 0.f}), Error);
  EXPECT_THROW(Adam({&p}, AdamOptions{0.9f, 0.999f, 0.f, 0.f}), Error);
  EXPECT_THROW(AdamW({&p}, AdamOptions{0.9f, 0.999f, 1e-8f, -0.1f}), Error);
}

}  // namespace
}  // namespace lowbit

#include "lowbit/quant/dorefa.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_util.hpp"

namespace lowbit::quant {
namespace {

using V = std::vector<float>;

TEST(QuantDoReFa, WeightForwardHandValues) {
  // t = tanh(w) = {0, .7616, -.7616, .4621}, m = .7616, w' = {0.5, 1, 0, 0.8034}.
  V w = {0.f, 1.f, -1.f, 0.5f}, y(4);
  dorefa_weight_forward(w.data(), y.data(), 4, 1);  // round(w'): tie 0.5 -> 1
  EXPECT_EQ(y, (V{1, 1, -1, 1}));
  dorefa_weight_forward(w.data(), y.data(), 4, 2);  // round(3 w') = {2 (tie 1.5), 3, 0, 2}
  EXPECT_FLOAT_EQ(y[0], 1.f / 3);
  EXPECT_FLOAT_EQ(y[1], 1.f);
  EXPECT_FLOAT_EQ(y[2], -1.f);
  EXPECT_FLOAT_EQ(y[3], 1.f / 3);
  // All zero: scale taken as 1, w' = 1/2, y = +1 for k = 1 (sign(0) = +1).
  V z(3, 0.f);
  dorefa_weight_forward(z.data(), y.data(), 3, 1);
  EXPECT_EQ(V(y.begin(), y.begin() + 3), (V{1, 1, 1}));
}

TEST(QuantDoReFa, WeightForwardLiesOnTheGridAndReachesBothEnds) {
  auto w = lowbit::testing::random_floats(1000, 11, -3.f, 3.f);
  for (int k = 1; k <= 8; ++k) {
    V y(w.size());
    dorefa_weight_forward(w.data(), y.data(), 1000, k);
    float L = static_cast<float>((1 << k) - 1);
    float lo = 2, hi = -2;
    for (float v : y) {
      float q = (v + 1.f) / 2.f * L;
      ASSERT_NEAR(q, std::round(q), 1e-3f) << "k " << k;
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    EXPECT_GE(lo, -1.f);
    EXPECT_LE(hi, 1.f);
    EXPECT_EQ(std::max(-lo, hi), 1.f) << k;  // the arg-max element maps to an end
  }
  EXPECT_THROW(dorefa_weight_forward(w.data(), w.data(), 1, 0), Error);
  EXPECT_THROW(dorefa_weight_forward(w.data(), w.data(), 1, 9), Error);
}

// Backward = gradient of the smooth part y = tanh(w) / max|tanh(w)| (rounding -> identity).
TEST(QuantDoReFa, WeightBackwardMatchesFiniteDifferencesOfSmoothPart) {
  const int64_t n = 24;
  for (uint64_t seed : {1u, 2u, 3u}) {
    auto w = lowbit::testing::random_floats(n, seed, -2.f, 2.f);
    auto r = lowbit::testing::random_floats(n, seed + 100);
    auto L = [&](const std::vector<double>& wd) {
      double m = 0;
      for (double v : wd) m = std::max(m, std::fabs(std::tanh(v)));
      double l = 0;
      for (int64_t i = 0; i < n; ++i) l += r[i] * std::tanh(wd[i]) / m;
      return l;
    };
    V dx(n);
    dorefa_weight_backward(w.data(), r.data(), dx.data(), n);
    std::vector<double> wd(w.begin(), w.end());
    for (int64_t j = 0; j < n; ++j) {
      double h = 1e-5, save = wd[j];
      wd[j] = save + h;
      double lp = L(wd);
      wd[j] = save - h;
      double lm = L(wd);
      wd[j] = save;
      double num = (lp - lm) / (2 * h);
      EXPECT_NEAR(dx[j], num, 1e-3 * (1 + std::fabs(num))) << "seed " << seed << " j " << j;
    }
    // In place (dx aliasing dy) gives the same.
    V inplace = r;
    dorefa_weight_backward(w.data(), inplace.data(), inplace.data(), n);
    EXPECT_EQ(inplace, dx);
  }
}

TEST(QuantDoReFa, WeightBackwardFormulaOffTheArgMax) {
  V w = {0.2f, -2.f, 0.7f}, dy = {1.f, 0.f, 2.f}, dx(3);  // arg max |tanh| = index 1, dy there 0
  dorefa_weight_backward(w.data(), dy.data(), dx.data(), 3);
  float m = std::fabs(std::tanh(-2.f));
  for (int j : {0, 2}) {
    float t = std::tanh(w[j]);
    EXPECT_FLOAT_EQ(dx[j], dy[j] * (1 - t * t) / m);
  }
  // Arg max: -sign(t_a)(1 - t_a^2)/m^2 * sum dy_i t_i.
  float ta = std::tanh(-2.f);
  float dot = std::tanh(0.2f) * 1.f + std::tanh(0.7f) * 2.f;
  EXPECT_NEAR(dx[1], (1 - ta * ta) / (m * m) * dot, 1e-6f);
  // All zero weights: scale 1, dx = dy.
  V z(3, 0.f);
  dorefa_weight_backward(z.data(), dy.data(), dx.data(), 3);
  EXPECT_EQ(dx, dy);
}

TEST(QuantDoReFa, ActivationForwardHandValuesAndTies) {
  V x = {-0.5f, 0.f, 0.2f, 0.5f, 0.6f, 1.f, 1.5f}, y(7);
  dorefa_act_forward(x.data(), y.data(), 7, 1);  // round(clip(x)): tie 0.5 -> 1
  EXPECT_EQ(y, (V{0, 0, 0, 1, 1, 1, 1}));
  dorefa_act_forward(x.data(), y.data(), 7, 2);  // round(3 clip(x)) / 3: 0.6, 1.5 (tie) -> 2, 1.8 -> 2
  V want = {0, 0, 1.f / 3, 2.f / 3, 2.f / 3, 1, 1};
  for (int i = 0; i < 7; ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  x = {0.25f, 0.75f};
  dorefa_act_forward(x.data(), y.data(), 2, 8);  // 63.75 -> 64, 191.25 -> 191
  EXPECT_FLOAT_EQ(y[0], 64.f / 255);
  EXPECT_FLOAT_EQ(y[1], 191.f / 255);
}

TEST(QuantDoReFa, ActivationBackwardPassesClosedUnitInterval) {
  V x = {-0.01f, 0.f, 0.5f, 1.f, 1.01f}, dy(5, 2.f), dx(5);
  dorefa_act_backward(x.data(), dy.data(), dx.data(), 5);
  EXPECT_EQ(dx, (V{0, 2, 2, 2, 0}));
}

}  // namespace
}  // namespace lowbit::quant

#include "lowbit/quant/binary.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lowbit/quant/stochastic.hpp"
#include "lowbit/quant/ternary.hpp"
#include "test_util.hpp"

namespace lowbit::quant {
namespace {

using V = std::vector<float>;

V fwd(void (*f)(const float*, float*, int64_t), const V& x) {
  V y(x.size());
  f(x.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

TEST(QuantBinary, SignOfZeroIsPlusOne) {
  V x = {-2.f, -1.f, -1e-30f, -0.f, 0.f, 1e-30f, 1.f, 2.f};
  EXPECT_EQ(fwd(binary_forward, x), (V{-1, -1, -1, 1, 1, 1, 1, 1}));
  V y = x;  // in place
  binary_forward(y.data(), y.data(), static_cast<int64_t>(y.size()));
  EXPECT_EQ(y, (V{-1, -1, -1, 1, 1, 1, 1, 1}));
}

TEST(QuantBinary, SteGradientIsOneInsideClosedUnitInterval) {
  V x = {-1.5f, -1.0001f, -1.f, -0.5f, 0.f, 0.5f, 1.f, 1.0001f, 3.f};
  V dy(x.size(), 3.f), dx(x.size());
  binary_ste_backward(x.data(), dy.data(), dx.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(dx, (V{0, 0, 3, 3, 3, 3, 3, 0, 0}));
}

TEST(QuantBinary, ApproxSignGradientHandValues) {
  V x = {-2.f, -1.f, -0.75f, -0.5f, 0.f, 0.25f, 0.5f, 1.f, 1.5f};
  V dy(x.size(), 2.f), dx(x.size());
  approx_sign_backward(x.data(), dy.data(), dx.data(), static_cast<int64_t>(x.size()));
  // 2 * max(0, 2 - 2|x|)
  EXPECT_EQ(dx, (V{0, 0, 1, 2, 4, 3, 2, 0, 0}));
}

// ApproxSign is the derivative of the Bi-Real polynomial F(x) = 2x + x|x|... on [-1, 1]:
// F(x) = 2x + x^2 (x < 0), 2x - x^2 (x >= 0), clipped to -1 / +1 outside.
TEST(QuantBinary, ApproxSignMatchesFiniteDifferencesOfBiRealPolynomial) {
  auto F = [](double x) {
    if (x < -1) return -1.0;
    if (x > 1) return 1.0;
    return x < 0 ? 2 * x + x * x : 2 * x - x * x;
  };
  for (float x : {-0.9f, -0.6f, -0.3f, -0.1f, 0.1f, 0.4f, 0.8f, 1.3f, -1.7f}) {
    float dy = 1.f, dx;
    approx_sign_backward(&x, &dy, &dx, 1);
    double h = 1e-4;
    EXPECT_NEAR(dx, (F(x + h) - F(x - h)) / (2 * h), 1e-3) << x;
  }
}

// SwishSign's gradient is the derivative of SS(x) = 2 s(bx) (1 + bx (1 - s(bx))) - 1, s = sigmoid.
TEST(QuantBinary, SwishSignMatchesFiniteDifferencesAndHandValues) {
  for (float beta : {5.f, 2.f, 10.f}) {
    auto SS = [beta](double x) {
      double bx = beta * x, s = 1 / (1 + std::exp(-bx));
      return 2 * s * (1 + bx * (1 - s)) - 1;
    };
    for (float x : {-2.f, -0.7f, -0.3f, -0.05f, 0.f, 0.05f, 0.2f, 0.5f, 1.f, 3.f}) {
      float dy = 1.f, dx;
      swish_sign_backward(&x, &dy, &dx, 1, beta);
      double h = 1e-5;
      double num = (SS(x + h) - SS(x - h)) / (2 * h);
      EXPECT_NEAR(dx, num, 1e-3 * (1 + std::fabs(num))) << "beta " << beta << " x " << x;
    }
    float z = 0.f, dy = 3.f, dx;
    swish_sign_backward(&z, &dy, &dx, 1, beta);
    EXPECT_FLOAT_EQ(dx, 3.f * beta);  // peak: beta * 2 / 2
  }
  // Far tails: cosh overflows, gradient is 0, not NaN.
  V x = {-1000.f, 1000.f}, dy = {1.f, 1.f}, dx(2);
  swish_sign_backward(x.data(), dy.data(), dx.data(), 2, 5.f);
  EXPECT_EQ(dx, (V{0.f, 0.f}));
  // Even function.
  float a = 0.3f, b = -0.3f, one = 1.f, ga, gb;
  swish_sign_backward(&a, &one, &ga, 1);
  swish_sign_backward(&b, &one, &gb, 1);
  EXPECT_FLOAT_EQ(ga, gb);
}

TEST(QuantStochastic, MeanMatchesHardSigmoidWithinFiveStandardErrors) {
  const int64_t N = 100000;
  Rng rng(1234);
  for (float xv : {-0.5f, 0.f, 0.3f}) {
    std::vector<float> x(N, xv), y(N);
    stochastic_binary_forward(x.data(), y.data(), N, rng);
    double sum = 0;
    for (float v : y) {
      ASSERT_TRUE(v == 1.f || v == -1.f);
      sum += v;
    }
    double p = std::min(1.0, std::max(0.0, (xv + 1.0) / 2.0));
    double se = std::sqrt(4 * p * (1 - p) / N);
    EXPECT_NEAR(sum / N, 2 * p - 1, 5 * se) << "x = " << xv;
  }
}

TEST(QuantStochastic, SaturatedInputsAreDeterministic) {
  const int64_t N = 100000;
  Rng rng(99);
  for (float xv : {1.f, 1.5f, 100.f}) {
    std::vector<float> x(N, xv), y(N);
    stochastic_binary_forward(x.data(), y.data(), N, rng);
    for (float v : y) ASSERT_EQ(v, 1.f) << xv;
  }
  for (float xv : {-1.f, -7.f}) {
    std::vector<float> x(N, xv), y(N);
    stochastic_binary_forward(x.data(), y.data(), N, rng);
    for (float v : y) ASSERT_EQ(v, -1.f) << xv;
  }
  EXPECT_FLOAT_EQ(hard_sigmoid(0.f), 0.5f);
  EXPECT_FLOAT_EQ(hard_sigmoid(0.3f), 0.65f);
  EXPECT_FLOAT_EQ(hard_sigmoid(-3.f), 0.f);
}

TEST(QuantStochastic, SameSeedSameDraws) {
  auto x = lowbit::testing::random_floats(1000, 5);
  std::vector<float> a(1000), b(1000);
  Rng r1(7), r2(7);
  stochastic_binary_forward(x.data(), a.data(), 1000, r1);
  stochastic_binary_forward(x.data(), b.data(), 1000, r2);
  EXPECT_EQ(a, b);
}

TEST(QuantTernary, FixedThresholdIsStrict) {
  V x = {-1.f, -0.5f, -0.31f, -0.3f, 0.f, 0.3f, 0.31f, 0.5f, 2.f};
  V y(x.size());
  ternary_forward(x.data(), y.data(), static_cast<int64_t>(x.size()), 0.3f);
  EXPECT_EQ(y, (V{-1, -1, -1, 0, 0, 0, 1, 1, 1}));
  // t = 0: only exact zero maps to 0.
  V z = {-1e-20f, 0.f, 1e-20f};
  ternary_forward(z.data(), z.data(), 3, 0.f);
  EXPECT_EQ(z, (V{-1, 0, 1}));
}

TEST(QuantTernary, TwnThresholdIsPointSevenMeanAbs) {
  V x = {1.f, -2.f, 0.f, 3.f};  // mean|x| = 1.5, t = 1.05
  float t = twn_threshold(x.data(), 4);
  EXPECT_FLOAT_EQ(t, 1.05f);
  V y(4);
  ternary_forward(x.data(), y.data(), 4, t);
  EXPECT_EQ(y, (V{0, -1, 0, 1}));
  EXPECT_EQ(twn_threshold(nullptr, 0), 0.f);
  // Uniform on [-1, 1): mean|x| ~ 0.5, t ~ 0.35.
  auto r = lowbit::testing::random_floats(100000, 3);
  EXPECT_NEAR(twn_threshold(r.data(), 100000), 0.35f, 0.01f);
}

TEST(QuantTernary, BackwardIsBinarySte) {
  // Ternary uses binary_ste_backward: dx = dy * 1[|x| <= 1].
  V x = {-1.01f, -1.f, 0.f, 0.6f, 1.f, 1.2f}, dy(6, 1.5f), dx(6);
  binary_ste_backward(x.data(), dy.data(), dx.data(), 6);
  EXPECT_EQ(dx, (V{0, 1.5f, 1.5f, 1.5f, 1.5f, 0}));
}

}  // namespace
}  // namespace lowbit::quant

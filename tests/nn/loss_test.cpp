#include "lowbit/nn/loss.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "lowbit/core/error.hpp"
#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

// Finite differences of the loss itself with respect to each logit.
void check_loss_gradient(const nn::Loss& loss, Tensor z, const std::vector<int32_t>& labels) {
  Tensor d;
  loss.compute(z, labels.data(), &d);
  const float eps = 1e-3f;
  for (int64_t i = 0; i < z.size(); ++i) {
    float keep = z[i];
    z[i] = keep + eps;
    double lp = loss.compute(z, labels.data(), nullptr);
    z[i] = keep - eps;
    double lm = loss.compute(z, labels.data(), nullptr);
    z[i] = keep;
    EXPECT_NEAR((lp - lm) / (2 * eps), d[i], 2e-4) << loss.name() << " logit " << i;
  }
}

TEST(Loss, CrossEntropyValues) {
  nn::SoftmaxCrossEntropy ce;
  Tensor z({2, 3}, {0, 0, 0, 1000, 0, -1000});  // uniform; and a huge logit (stability)
  std::vector<int32_t> y = {1, 0};
  double l = ce.compute(z, y.data(), nullptr);
  EXPECT_NEAR(l, std::log(3.0) / 2, 1e-9);
  EXPECT_TRUE(std::isfinite(l));
}

TEST(Loss, SquaredHingeValues) {
  nn::SquaredHinge h;
  // t = (+1, -1): margins max(0, 1 - 0.5)^2 = 0.25 and max(0, 1 - 2)^2 = 0 -> mean 0.125
  Tensor z({1, 2}, {0.5f, -2.f});
  std::vector<int32_t> y = {0};
  EXPECT_NEAR(h.compute(z, y.data(), nullptr), 0.125, 1e-9);
}

TEST(Loss, GradientsMatchFiniteDifferences) {
  Tensor z = lowbit::testing::random_tensor({4, 5}, 3, -2.f, 2.f);
  std::vector<int32_t> y = {0, 4, 2, 2};
  check_loss_gradient(nn::SoftmaxCrossEntropy(), z, y);
  // Keep hinge logits away from its kink at t*z = 1.
  for (float& v : z)
    if (std::abs(std::abs(v) - 1.f) < 0.05f) v += 0.1f;
  check_loss_gradient(nn::SquaredHinge(), z, y);
  Tensor one({1, 1}, {0.3f});
  check_loss_gradient(nn::SoftmaxCrossEntropy(), one, {0});
}

TEST(Loss, BadLabelAndUnknownName) {
  nn::SoftmaxCrossEntropy ce;
  Tensor z({1, 3});
  z.zero();
  std::vector<int32_t> y = {3};
  EXPECT_THROW(ce.compute(z, y.data(), nullptr), Error);
  try {
    nn::make_loss("mse");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("squared_hinge"), std::string::npos);
  }
}

}  // namespace
}  // namespace lowbit

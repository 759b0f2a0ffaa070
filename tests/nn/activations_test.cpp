#include "lowbit/nn/activations.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

// Inputs kept at least 0.1 away from the kinks at 0 and +-1 so finite differences are valid.
Tensor away_from_kinks(const Shape& shape, uint64_t seed) {
  Tensor t = lowbit::testing::random_tensor(shape, seed, -2.f, 2.f);
  for (float& v : t)
    for (float k : {-1.f, 0.f, 1.f})
      if (std::abs(v - k) < 0.1f) v = k + (v < k ? -0.1f : 0.1f);
  return t;
}

TEST(ReLU, ValuesAndGradient) {
  nn::ReLU relu;
  Tensor x({1, 4}, {-1.f, 0.f, 0.5f, 2.f}), y;
  relu.forward(x, y, {});
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{0, 0, 0.5f, 2}));
  lowbit::testing::check_gradients(relu, away_from_kinks({3, 5, 2}, 1));
}

TEST(HardTanh, ValuesAndGradient) {
  nn::HardTanh ht;
  Tensor x({1, 5}, {-3.f, -1.f, 0.f, 0.25f, 7.f}), y;
  ht.forward(x, y, {});
  EXPECT_EQ(std::vector<float>(y.begin(), y.end()), (std::vector<float>{-1, -1, 0, 0.25f, 1}));
  lowbit::testing::check_gradients(ht, away_from_kinks({2, 17}, 2));
}

}  // namespace
}  // namespace lowbit

#include "lowbit/quant/fixed.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lowbit/core/error.hpp"

namespace lowbit::quant {
namespace {

using V = std::vector<float>;

TEST(QuantFixed, MaxValue) {
  EXPECT_EQ(fixed_max(4, 2), 3.75f);
  EXPECT_EQ(fixed_max(2, 0), 3.f);
  EXPECT_EQ(fixed_max(8, 8), 255.f / 256);
  EXPECT_EQ(fixed_max(16, 0), 65535.f);
  EXPECT_THROW(fixed_max(1, 0), Error);
  EXPECT_THROW(fixed_max(4, 5), Error);
  EXPECT_THROW(fixed_max(17, 0), Error);
}

TEST(QuantFixed, ForwardHandValuesClipAndTiesHalfUp) {
  // k = 4, f = 2: step 0.25, M = 3.75.
  V x = {-1.f, -0.1f, 0.f, 0.1f, 0.125f, 0.2f, 1.3f, 3.625f, 3.75f, 3.8f, 100.f};
  V y(x.size());
  fixed_act_forward(x.data(), y.data(), static_cast<int64_t>(x.size()), 4, 2);
  EXPECT_EQ(y, (V{0, 0, 0, 0, 0.25f, 0.25f, 1.25f, 3.75f, 3.75f, 3.75f, 3.75f}));
  // f = 0: integers 0..3; 2.5 is a tie -> 3, 1.5 -> 2, 0.5 -> 1.
  x = {0.49f, 0.5f, 1.5f, 2.5f, 7.f};
  fixed_act_forward(x.data(), y.data(), 5, 2, 0);
  EXPECT_EQ(V(y.begin(), y.begin() + 5), (V{0, 1, 2, 3, 3}));
  // f = k: pure fraction, M = 255/256.
  x = {0.5f, 1.f / 512, 1.f};
  fixed_act_forward(x.data(), y.data(), 3, 8, 8);
  EXPECT_EQ(V(y.begin(), y.begin() + 3), (V{0.5f, 1.f / 256, 255.f / 256}));
}

TEST(QuantFixed, BackwardPassesZeroToM) {
  V x = {-0.001f, 0.f, 2.f, 3.75f, 3.76f}, dy(5, 4.f), dx(5);
  fixed_act_backward(x.data(), dy.data(), dx.data(), 5, 4, 2);
  EXPECT_EQ(dx, (V{0, 4, 4, 4, 0}));
}

// fixed:k,f:signed is Vivado HLS's ap_fixed<k, k - f, AP_RND, AP_SAT>: the BNN-PYNQ CNV
// overlay's host code converts each CIFAR byte c, as x = 2c/255 - 1, to ap_fixed<8, 1>.
TEST(QuantFixed, SignedMatchesApFixedRoundHalfUpSaturate) {
  EXPECT_EQ(signed_fixed_min(8, 7), -1.f);
  EXPECT_EQ(signed_fixed_max(8, 7), 127.f / 128);
  EXPECT_EQ(signed_fixed_min(4, 0), -8.f);
  EXPECT_EQ(signed_fixed_max(4, 0), 7.f);
  EXPECT_THROW(signed_fixed_min(1, 0), Error);
  // k = 4, f = 1: step 0.5, range [-4, 3.5]. Ties go up, also below zero (-0.25 -> 0,
  // -0.75 -> -0.5), and the ends saturate.
  V x = {-9.f, -4.f, -3.76f, -0.75f, -0.25f, -0.24f, 0.f, 0.25f, 0.74f, 3.5f, 3.75f, 50.f};
  V y(x.size());
  signed_fixed_act_forward(x.data(), y.data(), static_cast<int64_t>(x.size()), 4, 1);
  EXPECT_EQ(y, (V{-4, -4, -4, -0.5f, 0, 0, 0, 0.5f, 0.5f, 3.5f, 3.5f, 3.5f}));
  // Every CIFAR byte: q = clamp(round(256 c / 255 - 128), -128, 127) (no ties occur), as
  // the overlay's quantiseAndPack<8> computes it.
  for (int c = 0; c < 256; ++c) {
    const float in = static_cast<float>(c / 255.0 * 2.0 - 1.0);
    float out = 0;
    signed_fixed_act_forward(&in, &out, 1, 8, 7);
    const double q = std::clamp(std::floor(256.0 * c / 255.0 - 128.0 + 0.5), -128.0, 127.0);
    EXPECT_EQ(out * 128.f, static_cast<float>(q)) << "pixel " << c;
  }
}

TEST(QuantFixed, SignedBackwardPassesTheRange) {
  V x = {-4.01f, -4.f, 0.f, 3.5f, 3.51f}, dy(5, 2.f), dx(5);
  signed_fixed_act_backward(x.data(), dy.data(), dx.data(), 5, 4, 1);
  EXPECT_EQ(dx, (V{0, 2, 2, 2, 0}));
}

}  // namespace
}  // namespace lowbit::quant

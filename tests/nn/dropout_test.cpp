#include "lowbit/nn/dropout.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "lowbit/core/error.hpp"
#include "lowbit/core/threading.hpp"
#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

using lowbit::testing::random_tensor;

TEST(Dropout, EvalIsIdentity) {
  nn::Dropout d(0.5f);
  Tensor x = random_tensor({3, 4, 5}, 1), y, dx;
  d.forward(x, y, {false, nullptr});  // no rng needed in eval
  ASSERT_EQ(y.shape(), x.shape());
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]);
  Tensor dy = random_tensor(x.shape(), 2);
  d.backward(x, y, dy, &dx);
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(dx[i], dy[i]);
}

TEST(Dropout, TrainingKeepsAboutOneMinusRateAndScales) {
  for (float p : {0.1f, 0.3f, 0.5f, 0.8f}) {
    SCOPED_TRACE(p);
    nn::Dropout d(p);
    const int64_t n = 100000;
    Tensor x = random_tensor({100, 1000}, 3, 0.5f, 1.5f), y;  // never 0, so dropped == y is 0
    Rng rng(4);
    d.forward(x, y, {true, &rng});
    ASSERT_TRUE(d.masked());
    int64_t kept = 0;
    const float scale = 1.f / (1.f - p);
    for (int64_t i = 0; i < n; ++i) {
      if (y[i] != 0.f) {
        ++kept;
        ASSERT_FLOAT_EQ(y[i], x[i] * scale);
        ASSERT_FLOAT_EQ(d.mask()[i], scale);
      } else {
        ASSERT_EQ(d.mask()[i], 0.f);
      }
    }
    // Kept fraction ~ Binomial(n, 1 - p) / n: allow 5 standard deviations.
    const double frac = static_cast<double>(kept) / n, sd = std::sqrt(p * (1.0 - p) / n);
    EXPECT_NEAR(frac, 1.0 - p, 5 * sd);
  }
}

TEST(Dropout, MaskComesFromTheContextStreamIndependentOfThreads) {
  const int saved = num_threads();
  nn::Dropout d(0.4f);
  Tensor x = random_tensor({7, 5000}, 5), y1, y2, y3;
  Rng a(9), b(9), c(10);
  set_num_threads(1);
  d.forward(x, y1, {true, &a});
  set_num_threads(3);
  d.forward(x, y2, {true, &b});
  set_num_threads(saved);
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_EQ(y1[i], y2[i]);
  d.forward(x, y3, {true, &c});
  int64_t differ = 0;
  for (int64_t i = 0; i < x.size(); ++i) differ += y1[i] != y3[i];
  EXPECT_GT(differ, x.size() / 10);
  // Consecutive batches from the same stream get different masks.
  d.forward(x, y3, {true, &a});
  differ = 0;
  for (int64_t i = 0; i < x.size(); ++i) differ += y1[i] != y3[i];
  EXPECT_GT(differ, x.size() / 10);
}

TEST(Dropout, BackwardUsesTheStoredMask) {
  nn::Dropout d(0.5f);
  Tensor x = random_tensor({4, 33}, 6), y, dx;
  Rng rng(1);
  d.forward(x, y, {true, &rng});
  Tensor dy = random_tensor(x.shape(), 7);
  d.backward(x, y, dy, &dx);
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(dx[i], dy[i] * d.mask()[i]);
  d.backward(x, y, dy, nullptr);  // no input gradient wanted: nothing to do
}

TEST(Dropout, GradientsMatchFiniteDifferences) {
  for (const Shape& shape : {Shape{1, 7}, Shape{3, 5, 4, 4}, Shape{2, 3, 5}}) {
    nn::Dropout d(0.3f);
    lowbit::testing::check_gradients(d, random_tensor(shape, 8));
  }
  nn::Dropout zero(0.f);
  lowbit::testing::check_gradients(zero, random_tensor({2, 9}, 9));
}

TEST(Dropout, TrainingWithoutRngNamesTheLayer) {
  nn::Dropout d(0.5f);
  d.set_name("drop_1");
  Tensor x({2, 3}, 1.f), y;
  try {
    d.forward(x, y, {true, nullptr});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("drop_1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(nn::Dropout(1.f), Error);
  EXPECT_THROW(nn::Dropout(-0.1f), Error);
}

TEST(Dropout, Spec) {
  nn::Dropout d(0.25f);
  EXPECT_EQ(d.spec()["type"], "dropout");
  EXPECT_FLOAT_EQ(d.spec()["rate"].get<float>(), 0.25f);
  EXPECT_EQ(d.output_shape({3, 4}), (Shape{3, 4}));
  EXPECT_FLOAT_EQ(d.rate(), 0.25f);
}

}  // namespace
}  // namespace lowbit

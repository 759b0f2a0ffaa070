#include "lowbit/nn/pool.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <numeric>
#include <vector>

#include "lowbit/core/error.hpp"
#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

using lowbit::testing::random_tensor;

// Distinct values, 0.1 apart (a random permutation of multiples of 0.1, centred), so no
// finite-difference step of eps = 0.01 can change which element is the maximum.
Tensor distinct_tensor(const Shape& shape, uint64_t seed) {
  Tensor t(shape);
  std::vector<int64_t> perm(static_cast<size_t>(t.size()));
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(seed);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = 0.1f * static_cast<float>(perm[i] - t.size() / 2);
  return t;
}

Tensor ramp4x4() {
  Tensor x({1, 1, 4, 4});
  for (int i = 0; i < 16; ++i) x[i] = static_cast<float>(i);
  return x;
}

std::vector<float> values(const Tensor& t) { return {t.begin(), t.end()}; }

TEST(MaxPool2d, RampHandComputed) {
  nn::MaxPool2d mp(2);
  Tensor x = ramp4x4(), y, dx;
  mp.forward(x, y, {});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{5, 7, 13, 15}));
  EXPECT_EQ(std::vector<int32_t>(mp.argmax().begin(), mp.argmax().end()), (std::vector<int32_t>{5, 7, 13, 15}));
  Tensor dy({1, 1, 2, 2}, {1, 2, 3, 4});
  mp.backward(x, y, dy, &dx);
  std::vector<float> expect(16, 0.f);
  expect[5] = 1, expect[7] = 2, expect[13] = 3, expect[15] = 4;
  EXPECT_EQ(values(dx), expect);
  // 3x3 window, stride 1, padding 1: every output is the max of its clipped neighbourhood.
  nn::MaxPool2d mp3(3, 1, 1);
  mp3.forward(x, y, {});
  EXPECT_EQ(values(y), (std::vector<float>{5, 6, 7, 7, 9, 10, 11, 11, 13, 14, 15, 15, 13, 14, 15, 15}));
}

TEST(AvgPool2d, RampHandComputed) {
  nn::AvgPool2d ap(2);
  Tensor x = ramp4x4(), y, dx;
  ap.forward(x, y, {});
  EXPECT_EQ(values(y), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
  Tensor dy({1, 1, 2, 2}, {4, 8, 12, 16});
  ap.backward(x, y, dy, &dx);
  EXPECT_EQ(values(dx), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(AvgPool2d, PaddingCountsOnlyValidTaps) {
  // 3x3 window, stride 2, padding 1 on the 4x4 ramp: the corner window holds 0,1,4,5 only.
  nn::AvgPool2d ap(3, 2, 1);
  Tensor x = ramp4x4(), y;
  ap.forward(x, y, {});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_FLOAT_EQ(y[0], (0 + 1 + 4 + 5) / 4.f);
  EXPECT_FLOAT_EQ(y[1], (1 + 2 + 3 + 5 + 6 + 7) / 6.f);
  EXPECT_FLOAT_EQ(y[2], (4 + 5 + 8 + 9 + 12 + 13) / 6.f);
  EXPECT_FLOAT_EQ(y[3], (5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15) / 9.f);
}

TEST(MaxPool2d, PaddingIsMinusInfinity) {
  nn::MaxPool2d mp(3, 2, 1);
  Tensor x = ramp4x4(), y;
  for (float& v : x) v = -1.f - v;  // all negative: zero padding would win, -inf padding must not
  mp.forward(x, y, {});
  EXPECT_EQ(values(y), (std::vector<float>{-1, -2, -5, -6}));
}

TEST(MaxPool2d, TiesGoToTheFirstMaximum) {
  nn::MaxPool2d mp(2);
  Tensor x({1, 1, 2, 4}, {3, 3, 1, 2, 3, 3, 2, 2}), y, dx;
  mp.forward(x, y, {});
  EXPECT_EQ(std::vector<int32_t>(mp.argmax().begin(), mp.argmax().end()), (std::vector<int32_t>{0, 3}));
  mp.backward(x, y, Tensor({1, 1, 1, 2}, {1.f, 1.f}), &dx);
  EXPECT_EQ(values(dx), (std::vector<float>{1, 0, 0, 1, 0, 0, 0, 0}));
}

TEST(MaxPool2d, OverlappingWindowsAccumulate) {
  nn::MaxPool2d mp(2, 1);
  Tensor x({1, 1, 2, 3}, {0, 9, 0, 0, 0, 0}), y, dx;
  mp.forward(x, y, {});
  EXPECT_EQ(values(y), (std::vector<float>{9, 9}));
  mp.backward(x, y, Tensor({1, 1, 1, 2}, {1.f, 2.f}), &dx);
  EXPECT_EQ(values(dx), (std::vector<float>{0, 3, 0, 0, 0, 0}));
}

struct PoolCase {
  Shape shape;
  int k, s, p;
};

const std::vector<PoolCase> kCases{{{1, 3, 4, 4}, 2, 0, 0}, {{2, 5, 7, 7}, 3, 2, 1}, {{1, 7, 5, 6}, 2, 1, 0},
                                   {{3, 1, 9, 9}, 3, 3, 0}, {{2, 3, 5, 5}, 2, 2, 1}, {{1, 5, 6, 5}, 4, 2, 2},
                                   {{4, 2, 3, 3}, 3, 1, 1}};

TEST(MaxPool2d, GradientsMatchFiniteDifferences) {
  uint64_t seed = 1;
  for (const PoolCase& c : kCases) {
    SCOPED_TRACE(::testing::Message() << shape_str(c.shape) << " k" << c.k << " s" << c.s << " p" << c.p);
    nn::MaxPool2d mp(c.k, c.s, c.p);
    lowbit::testing::check_gradients(mp, distinct_tensor(c.shape, seed++));
  }
}

TEST(AvgPool2d, GradientsMatchFiniteDifferences) {
  uint64_t seed = 10;
  for (const PoolCase& c : kCases) {
    SCOPED_TRACE(::testing::Message() << shape_str(c.shape) << " k" << c.k << " s" << c.s << " p" << c.p);
    nn::AvgPool2d ap(c.k, c.s, c.p);
    lowbit::testing::check_gradients(ap, random_tensor(c.shape, seed++));
  }
}

TEST(MaxPool2d, SpecShapeAndDefaults) {
  nn::MaxPool2d mp(3);
  EXPECT_EQ(mp.stride(), 3);
  EXPECT_EQ(mp.padding(), 0);
  EXPECT_EQ(mp.output_shape({5, 9, 10}), (Shape{5, 3, 3}));
  const nn::json spec = mp.spec();
  EXPECT_EQ(spec["type"], "maxpool2d");
  EXPECT_EQ(spec["kernel"], 3);
  EXPECT_EQ(spec["stride"], 3);
  EXPECT_EQ(spec["padding"], 0);
  nn::AvgPool2d ap(2, 1, 1);
  EXPECT_EQ(ap.spec()["type"], "avgpool2d");
  EXPECT_EQ(ap.spec()["stride"], 1);
  EXPECT_EQ(ap.spec()["padding"], 1);
  EXPECT_EQ(ap.output_shape({2, 4, 4}), (Shape{2, 5, 5}));
  EXPECT_TRUE(mp.params().empty());
  EXPECT_EQ(mp.macs({5, 9, 10}), 0);
}

using lowbit::testing::expect_error_naming;

TEST(MaxPool2d, BadShapesNameTheLayer) {
  nn::MaxPool2d mp(3);
  mp.set_name("pool_2");
  nn::AvgPool2d ap(3);
  ap.set_name("avg_4");
  Tensor y, dx;
  expect_error_naming([&] { mp.forward(Tensor({2, 3, 2, 5}, 0.f), y, {}); }, "pool_2");  // smaller than window
  expect_error_naming([&] { mp.forward(Tensor({2, 9}, 0.f), y, {}); }, "pool_2");        // not NCHW
  expect_error_naming([&] { ap.forward(Tensor({3, 9, 9}, 0.f), y, {}); }, "avg_4");
  expect_error_naming([&] { (void)ap.output_shape({9, 9}); }, "avg_4");
  Tensor x({1, 2, 6, 6}, 0.f);
  mp.forward(x, y, {});
  expect_error_naming([&] { mp.backward(x, y, Tensor({1, 2, 3, 3}, 0.f), &dx); }, "pool_2");
  EXPECT_THROW(nn::MaxPool2d(0), Error);
  EXPECT_THROW(nn::MaxPool2d(2, 1, 2), Error);  // padding > kernel / 2
  EXPECT_THROW(nn::AvgPool2d(3, -1), Error);
}

}  // namespace
}  // namespace lowbit

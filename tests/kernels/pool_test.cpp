#include "lowbit/kernels/pool.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <tuple>
#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/im2col.hpp"

namespace lowbit {
namespace {


// (planes, H, W, k, s, p)
const std::vector<std::tuple<int, int, int, int, int, int>> kCases{
    {1, 4, 4, 2, 2, 0}, {3, 7, 7, 2, 2, 0}, {2, 7, 9, 3, 2, 1}, {5, 5, 5, 3, 1, 1}, {2, 6, 6, 3, 3, 0},
    {4, 8, 5, 4, 2, 2}, {1, 3, 3, 3, 1, 0}, {7, 1, 1, 1, 1, 0}, {3, 9, 6, 2, 1, 1}, {2, 6, 7, 5, 2, 2}};

TEST(PoolKernels, MaxMatchesReference) {
  uint64_t seed = 1;
  for (auto [planes, H, W, k, s, p] : kCases) {
    SCOPED_TRACE(::testing::Message() << planes << "x" << H << "x" << W << " k" << k << " s" << s << " p" << p);
    const int64_t out = planes * kernels::conv_out_size(H, k, s, p) * kernels::conv_out_size(W, k, s, p);
    auto x = lowbit::testing::random_floats(static_cast<int64_t>(planes) * H * W, seed++);
    // Quantise so that ties occur and tie-breaking is compared too.
    for (float& v : x) v = std::round(v * 3.f);
    std::vector<float> y(out), y_ref(out);
    std::vector<int32_t> a(out), a_ref(out);
    kernels::maxpool2d(x.data(), planes, H, W, k, k, s, s, p, p, y.data(), a.data());
    kernels::maxpool2d_ref(x.data(), planes, H, W, k, k, s, s, p, p, y_ref.data(), a_ref.data());
    EXPECT_EQ(y, y_ref);
    EXPECT_EQ(a, a_ref);
  }
}

TEST(PoolKernels, MaxBackwardRoutesToArgmax) {
  const int planes = 2, H = 5, W = 5, k = 3, s = 1, p = 1;
  const int64_t OH = kernels::conv_out_size(H, k, s, p), out = planes * OH * OH;
  auto x = lowbit::testing::random_floats(planes * H * W, 4);
  auto dy = lowbit::testing::random_floats(out, 5);
  std::vector<float> y(out), dx(x.size(), 123.f), expect(x.size(), 0.f);
  std::vector<int32_t> a(out);
  kernels::maxpool2d(x.data(), planes, H, W, k, k, s, s, p, p, y.data(), a.data());
  kernels::maxpool2d_backward(dy.data(), a.data(), planes, H, W, OH, OH, dx.data());
  for (int64_t i = 0; i < out; ++i) expect[(i / (OH * OH)) * H * W + a[i]] += dy[i];
  for (size_t i = 0; i < x.size(); ++i) EXPECT_FLOAT_EQ(dx[i], expect[i]);
}

TEST(PoolKernels, AvgMatchesReference) {
  uint64_t seed = 10;
  for (auto [planes, H, W, k, s, p] : kCases) {
    SCOPED_TRACE(::testing::Message() << planes << "x" << H << "x" << W << " k" << k << " s" << s << " p" << p);
    const int64_t out = planes * kernels::conv_out_size(H, k, s, p) * kernels::conv_out_size(W, k, s, p);
    auto x = lowbit::testing::random_floats(static_cast<int64_t>(planes) * H * W, seed++);
    auto dy = lowbit::testing::random_floats(out, seed++);
    std::vector<float> y(out), y_ref(out), dx(x.size(), 7.f), dx_ref(x.size(), -7.f);
    kernels::avgpool2d(x.data(), planes, H, W, k, k, s, s, p, p, y.data());
    kernels::avgpool2d_ref(x.data(), planes, H, W, k, k, s, s, p, p, y_ref.data());
    for (int64_t i = 0; i < out; ++i) EXPECT_NEAR(y[i], y_ref[i], 1e-6);
    kernels::avgpool2d_backward(dy.data(), planes, H, W, k, k, s, s, p, p, dx.data());
    kernels::avgpool2d_backward_ref(dy.data(), planes, H, W, k, k, s, s, p, p, dx_ref.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(dx[i], dx_ref[i], 1e-6);
    // Backward is the adjoint of forward (a linear map): <avg(x), dy> == <x, avg^T(dy)>.
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < out; ++i) lhs += static_cast<double>(y[i]) * dy[i];
    for (size_t i = 0; i < x.size(); ++i) rhs += static_cast<double>(x[i]) * dx[i];
    EXPECT_NEAR(lhs, rhs, 1e-5 * (1 + std::abs(lhs)));
  }
}

TEST(PoolKernels, LargeBatchParallelPathMatchesReference) {
  const int planes = 64 * 16, H = 12, W = 12;  // above the parallel threshold
  auto x = lowbit::testing::random_floats(static_cast<int64_t>(planes) * H * W, 77);
  const int64_t out = static_cast<int64_t>(planes) * 6 * 6;
  std::vector<float> y(out), y_ref(out);
  std::vector<int32_t> a(out), a_ref(out);
  kernels::maxpool2d(x.data(), planes, H, W, 2, 2, 2, 2, 0, 0, y.data(), a.data());
  kernels::maxpool2d_ref(x.data(), planes, H, W, 2, 2, 2, 2, 0, 0, y_ref.data(), a_ref.data());
  EXPECT_EQ(y, y_ref);
  EXPECT_EQ(a, a_ref);
}

}  // namespace
}  // namespace lowbit

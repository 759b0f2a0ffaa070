#include "lowbit/kernels/im2col.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <tuple>
#include <vector>

#include "lowbit/core/rng.hpp"

namespace lowbit {
namespace {


double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(Im2col, OutSize) {
  EXPECT_EQ(kernels::conv_out_size(5, 3, 1, 0), 3);
  EXPECT_EQ(kernels::conv_out_size(5, 3, 2, 1), 3);
  EXPECT_EQ(kernels::conv_out_size(4, 2, 2, 0), 2);
  EXPECT_EQ(kernels::conv_out_size(7, 3, 2, 0), 3);
  EXPECT_EQ(kernels::conv_out_size(2, 3, 1, 0), 0);
  EXPECT_EQ(kernels::conv_out_size(1, 3, 1, 1), 1);
}

TEST(Im2col, HandComputed) {
  // One 3x3 plane 1..9, 2x2 kernel, stride 1, no padding: 4 rows (taps) x 4 columns (pixels).
  std::vector<float> img{1, 2, 3, 4, 5, 6, 7, 8, 9}, col(16);
  kernels::im2col(img.data(), 1, 3, 3, 2, 2, 1, 1, 0, 0, col.data());
  EXPECT_EQ(col, (std::vector<float>{1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9}));
  // Padding 1, stride 2: output 2x2; tap (0,0) sees the padded corner for output (0,0).
  std::vector<float> col2(4 * 4);
  kernels::im2col(img.data(), 1, 3, 3, 2, 2, 2, 2, 1, 1, col2.data());
  EXPECT_EQ(col2, (std::vector<float>{0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 8, 1, 3, 7, 9}));
}

TEST(Im2col, Col2imIsTheAdjoint) {
  // (C, H, W, kh, kw, sh, sw, ph, pw)
  const std::vector<std::tuple<int, int, int, int, int, int, int, int, int>> cases{
      {1, 5, 5, 3, 3, 1, 1, 0, 0}, {3, 7, 6, 3, 3, 2, 2, 1, 1}, {2, 4, 4, 1, 1, 1, 1, 0, 0},
      {5, 9, 7, 5, 3, 2, 1, 2, 1}, {1, 3, 3, 3, 3, 1, 1, 0, 0}, {7, 6, 5, 2, 2, 2, 2, 0, 0},
      {2, 5, 8, 3, 2, 3, 1, 2, 0}, {3, 1, 1, 3, 3, 1, 1, 1, 1}, {4, 8, 8, 4, 4, 4, 4, 2, 2}};
  uint64_t seed = 1;
  for (auto [C, H, W, kh, kw, sh, sw, ph, pw] : cases) {
    SCOPED_TRACE(::testing::Message() << C << "x" << H << "x" << W << " k" << kh << "x" << kw << " s" << sh << "x"
                                      << sw << " p" << ph << "x" << pw);
    const int64_t P = kernels::conv_out_size(H, kh, sh, ph) * kernels::conv_out_size(W, kw, sw, pw);
    const int64_t K = static_cast<int64_t>(C) * kh * kw;
    auto x = lowbit::testing::random_floats(static_cast<int64_t>(C) * H * W, seed++);
    auto y = lowbit::testing::random_floats(K * P, seed++);
    std::vector<float> col(static_cast<size_t>(K * P), 99.f), img(x.size(), 0.f);
    kernels::im2col(x.data(), C, H, W, kh, kw, sh, sw, ph, pw, col.data());
    kernels::col2im(y.data(), C, H, W, kh, kw, sh, sw, ph, pw, img.data());
    const double lhs = dot(col, y), rhs = dot(x, img);
    EXPECT_NEAR(lhs, rhs, 1e-4 * (1 + std::abs(lhs)));
  }
}

TEST(Im2col, Col2imAccumulates) {
  std::vector<float> col(9, 1.f), img(9, 10.f);
  kernels::col2im(col.data(), 1, 3, 3, 1, 1, 1, 1, 0, 0, img.data());
  for (float v : img) EXPECT_EQ(v, 11.f);
}

TEST(Im2col, RowStridePlacesImagesSideBySide) {
  const int C = 3, H = 5, W = 4, k = 3, s = 1, p = 1;
  const int64_t P = kernels::conv_out_size(H, k, s, p) * kernels::conv_out_size(W, k, s, p), K = C * k * k;
  auto a = lowbit::testing::random_floats(C * H * W, 1), b = lowbit::testing::random_floats(C * H * W, 2);
  std::vector<float> ca(K * P), cb(K * P), both(K * 2 * P);
  kernels::im2col(a.data(), C, H, W, k, k, s, s, p, p, ca.data());
  kernels::im2col(b.data(), C, H, W, k, k, s, s, p, p, cb.data());
  kernels::im2col(a.data(), C, H, W, k, k, s, s, p, p, both.data(), 2 * P);
  kernels::im2col(b.data(), C, H, W, k, k, s, s, p, p, both.data() + P, 2 * P);
  for (int64_t r = 0; r < K; ++r)
    for (int64_t q = 0; q < P; ++q) {
      ASSERT_EQ(both[r * 2 * P + q], ca[r * P + q]);
      ASSERT_EQ(both[r * 2 * P + P + q], cb[r * P + q]);
    }
  // col2im with the same stride reads back the same halves.
  std::vector<float> ia(a.size(), 0.f), ia2(a.size(), 0.f);
  kernels::col2im(ca.data(), C, H, W, k, k, s, s, p, p, ia.data());
  kernels::col2im(both.data(), C, H, W, k, k, s, s, p, p, ia2.data(), 2 * P);
  EXPECT_EQ(ia, ia2);
}

TEST(Conv2dRef, HandComputed) {
  // x: 1x1x3x3 = 1..9, w: 1x1x2x2 = [1 0; 0 -1], b = 0.5 -> y[i,j] = x[i,j] - x[i+1,j+1] + 0.5 = -3.5
  std::vector<float> x{1, 2, 3, 4, 5, 6, 7, 8, 9}, w{1, 0, 0, -1}, b{0.5f}, y(4);
  kernels::conv2d_ref(x.data(), w.data(), b.data(), 1, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, y.data());
  for (float v : y) EXPECT_FLOAT_EQ(v, -3.5f);
  // Two input channels, 1x1 kernel, padding 1: the border is just the bias.
  std::vector<float> x2{1, 2, 3, 4, 10, 20, 30, 40}, w2{1, 2}, y2(16);
  kernels::conv2d_ref(x2.data(), w2.data(), nullptr, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, y2.data());
  EXPECT_EQ(y2, (std::vector<float>{0, 0, 0, 0, 0, 21, 42, 0, 0, 63, 84, 0, 0, 0, 0, 0}));
}

TEST(Conv2dRef, BackwardIsConsistentWithForward) {
  // The convolution is bilinear: <dy, conv(x, w)> = <x, dx> = <w, dw>, and db = sum of dy.
  const std::vector<std::tuple<int, int, int, int, int, int, int, int>> cases{
      {2, 3, 5, 5, 4, 3, 1, 1}, {1, 1, 7, 6, 2, 3, 2, 0}, {3, 5, 4, 4, 3, 2, 2, 1}, {1, 2, 6, 6, 3, 1, 1, 0}};
  for (auto [N, C, H, W, OC, k, s, p] : cases) {
    const int64_t OH = kernels::conv_out_size(H, k, s, p), OW = kernels::conv_out_size(W, k, s, p);
    auto x = lowbit::testing::random_floats(static_cast<int64_t>(N) * C * H * W, 1);
    auto w = lowbit::testing::random_floats(static_cast<int64_t>(OC) * C * k * k, 2);
    auto dy = lowbit::testing::random_floats(N * OC * OH * OW, 3);
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(OC);
    kernels::conv2d_ref(x.data(), w.data(), nullptr, N, C, H, W, OC, k, k, s, s, p, p, y.data());
    kernels::conv2d_backward_ref(x.data(), w.data(), dy.data(), N, C, H, W, OC, k, k, s, s, p, p, dx.data(),
                                 dw.data(), db.data());
    const double l = dot(dy, y);
    EXPECT_NEAR(dot(x, dx), l, 1e-4 * (1 + std::abs(l)));
    EXPECT_NEAR(dot(w, dw), l, 1e-4 * (1 + std::abs(l)));
    for (int o = 0; o < OC; ++o) {
      double s_ = 0;
      for (int n = 0; n < N; ++n)
        for (int64_t q = 0; q < OH * OW; ++q) s_ += dy[(n * OC + o) * OH * OW + q];
      EXPECT_NEAR(db[o], s_, 1e-5);
    }
  }
}

}  // namespace
}  // namespace lowbit

#include "lowbit/quant/addnet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lowbit/quant/spec.hpp"
#include "test_util.hpp"

namespace lowbit::quant {
namespace {

using V = std::vector<float>;
using lowbit::testing::expect_error_naming;
using lowbit::testing::random_floats;

std::unique_ptr<AddNetQuantizer> make(int adders, float lambda = 1.f) {
  auto q = std::make_unique<AddNetQuantizer>(parse_quant_spec("addnet:" + std::to_string(adders)), Role::kWeight);
  q->params()[0]->value[0] = lambda;
  return q;
}

Tensor tensor(const V& v) {
  Tensor t({static_cast<int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}

V values(const Tensor& t) { return V(t.begin(), t.end()); }

V forward(AddNetQuantizer& q, const V& w) {
  Tensor y;
  q.forward(tensor(w), y, Context{});
  return values(y);
}

// n weights drawn uniformly from the 2N - 1 signed codes, times `scale`.
V codebook_samples(int adders, int64_t n, float scale, uint64_t seed) {
  const V& c = addnet_coefficients(adders);
  const uint64_t codes = 2 * c.size() - 1;
  Rng rng(seed);
  V w(static_cast<size_t>(n));
  for (float& x : w) {
    const uint64_t k = rng.below(codes);
    x = k < c.size() ? scale * c[k] : -scale * c[k - c.size() + 1];
  }
  return w;
}

TEST(QuantAddNet, CoefficientSetsAreThesisTable62) {
  EXPECT_EQ(addnet_coefficients(2), (V{0, 1, 2, 8, 28, 36, 44, 92}));
  EXPECT_EQ(addnet_coefficients(3), (V{0,  1,  2,  3,  4,  5,  6,  7,  9,  10, 12,  13,  14,  16,  23,
                                       29, 30, 32, 63, 69, 70, 72, 87, 93, 94, 96, 119, 125, 126, 128}));
  EXPECT_EQ(addnet_coefficients(4),
            (V{0,   1,   2,   4,   5,   7,   8,   9,   11,  13,  14,  15,  16,  18,  19,  20,  21,  22,
               23,  24,  25,  26,  27,  28,  29,  30,  31,  32,  33,  34,  36,  37,  38,  39,  40,  46,
               48,  54,  58,  64,  69,  70,  71,  74,  75,  76,  78,  80,  81,  82,  84,  85,  87,  94,
               96,  102, 114, 118, 126, 134, 142, 150, 166, 174, 182, 190, 194, 198, 206, 214, 222, 230,
               238, 246, 258, 262, 270, 278, 286, 302, 310, 318, 326, 334, 382, 398, 446, 450, 526, 566,
               574, 582, 614, 622, 654, 662, 670, 686, 694, 710, 766, 782, 830, 1214}));
  // "#coeff" column: 15, 59, 207 signed codes (0 counted once).
  const int codes[3] = {15, 59, 207};
  for (int a = 2; a <= 4; ++a) {
    const V& c = addnet_coefficients(a);
    EXPECT_EQ(static_cast<int>(2 * c.size() - 1), codes[a - 2]);
    EXPECT_TRUE(std::is_sorted(c.begin(), c.end()));
    EXPECT_EQ(std::adjacent_find(c.begin(), c.end()), c.end());
    EXPECT_EQ(c.front(), 0.f);
  }
  expect_error_naming([] { addnet_coefficients(1); }, "2, 3 or 4");
  expect_error_naming([] { addnet_coefficients(5); }, "2, 3 or 4");
}

TEST(QuantAddNet, NearestCoefficientTiesGoToTheSmaller) {
  // 2-Add midpoints: 0.5, 1.5, 5, 18, 32, 40, 68.
  V a = {0.f, 0.4f, 0.5f, 0.6f, 1.5f, 1.6f, 5.f, 5.1f, 18.f, 18.5f, 32.f, 40.f, 68.f, 68.5f, 100.f};
  V want = {0, 0, 0, 1, 1, 2, 2, 8, 8, 28, 28, 36, 44, 92, 92};
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(addnet_nearest(a[i], 2), want[i]) << a[i];
  EXPECT_EQ(addnet_nearest(1213.f, 4), 1214.f);
  EXPECT_EQ(addnet_nearest(1022.f, 4), 830.f);  // midpoint of 830 and 1214
  EXPECT_EQ(addnet_nearest(1022.5f, 4), 1214.f);
  EXPECT_EQ(addnet_nearest(11.f, 3), 10.f);  // between 10 and 12 (no 11 in the 3-Add set)
  EXPECT_EQ(addnet_nearest(11.01f, 3), 12.f);
}

TEST(QuantAddNet, ForwardHandValues) {
  auto q = make(2);
  EXPECT_EQ(forward(*q, {0.f, -0.f, 0.4f, -0.6f, 5.f, -18.f, -18.5f, 68.f, 1000.f, -1000.f}),
            (V{0, 0, 0, -1, 2, -8, -28, 44, 92, -92}));
  q->params()[0]->value[0] = 0.5f;  // the same decisions on |w| / 0.5
  EXPECT_EQ(forward(*q, {2.5f, 2.55f, -0.3f, 0.2f, 46.f, 47.f}), (V{1.f, 4.f, -0.5f, 0.f, 46.f, 46.f}));
}

TEST(QuantAddNet, EveryOutputIsTheNearestScaledCode) {
  for (int adders = 2; adders <= 4; ++adders) {
    SCOPED_TRACE(adders);
    auto q = make(adders);
    const V w = random_floats(5000, 40 + adders, -0.3f, 0.3f);
    q->init(tensor(w));
    const float lambda = q->lambda();
    const V& c = addnet_coefficients(adders);
    const V y = forward(*q, w);
    for (size_t i = 0; i < w.size(); ++i) {
      bool on_grid = false;
      double best = std::numeric_limits<double>::infinity();
      for (float ck : c) {
        on_grid |= std::fabs(y[i]) == lambda * ck;
        best = std::min(best, std::fabs(double(lambda) * ck - std::fabs(w[i])));
      }
      ASSERT_TRUE(on_grid) << y[i];
      ASSERT_TRUE(y[i] == 0.f || (y[i] > 0) == (w[i] > 0)) << w[i] << " -> " << y[i];
      ASSERT_LE(std::fabs(std::fabs(double(y[i])) - std::fabs(w[i])), best + 1e-7) << w[i];  // float rounding of lambda c
    }
  }
}

TEST(QuantAddNet, BackwardClipsBeyondTheLargestCodeAndGivesLambdaGradient) {
  auto q = make(2, 0.5f);  // lambda c_max = 46
  Tensor w = tensor({46.f, -46.f, 46.001f, -50.f, 0.f, 3.f}), y, dw;
  q->forward(w, y, Context{});
  Tensor dy({6}, 2.f);
  q->backward(w, dy, dw);
  EXPECT_EQ(values(dw), (V{2, 2, 0, 0, 2, 2}));
  // sum dy sign(w) c*: 2 (92 - 92 + 92 - 92 + 0 + 8)
  EXPECT_EQ(q->params()[0]->grad[0], 16.f);
}

double loss(AddNetQuantizer& q, const V& w, const V& g, float lambda) {
  q.params()[0]->value[0] = lambda;
  const V y = forward(q, w);
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += double(g[i]) * y[i];
  return s;
}

// L = sum g_j y_j is linear in lambda while no |w_j| / lambda crosses a midpoint, so the
// central difference is exact up to float rounding of y.
TEST(QuantAddNet, LambdaGradientMatchesFiniteDifferences) {
  for (int adders = 2; adders <= 4; ++adders) {
    SCOPED_TRACE(adders);
    const V& c = addnet_coefficients(adders);
    const float lambda = 1.1f / c.back(), h = 0.01f * lambda;
    V w, g;
    for (float x : random_floats(4000, 7 + adders, -1.f, 1.f)) {
      const double a = std::fabs(x) / lambda;
      bool near_boundary = false;
      for (size_t k = 0; k + 1 < c.size(); ++k) near_boundary |= std::fabs(a - 0.5 * (c[k] + c[k + 1])) <= 0.03 * a;
      if (!near_boundary) w.push_back(x);
    }
    ASSERT_GT(w.size(), 500u);
    g = random_floats(static_cast<int64_t>(w.size()), 99, -1.f, 1.f);
    auto q = make(adders);
    const double fd = (loss(*q, w, g, lambda + h) - loss(*q, w, g, lambda - h)) / (double(lambda + h) - (lambda - h));
    q->params()[0]->value[0] = lambda;
    Tensor wt = tensor(w), y, dw;
    q->forward(wt, y, Context{});
    q->backward(wt, tensor(g), dw);
    EXPECT_NEAR(q->params()[0]->grad[0], fd, 1e-4 * std::max(1.0, std::fabs(fd)));
  }
}

TEST(QuantAddNet, DistributionMatchingFindsTheCodebookScale) {
  for (int adders = 2; adders <= 4; ++adders) {
    SCOPED_TRACE(adders);
    const V w = codebook_samples(adders, 30000, 0.01f, 5 + adders);
    const float m = 0.01f * addnet_coefficients(adders).back();
    ASSERT_EQ(*std::max_element(w.begin(), w.end()), m);
    const float lambda = addnet_match_scale(w.data(), static_cast<int64_t>(w.size()), adders);
    EXPECT_NEAR(lambda * addnet_coefficients(adders).back(), m, 0.05f * m);
  }
}

TEST(QuantAddNet, DistributionMatchingIsDeterministicAndScaleEquivariant) {
  const V w = random_floats(20000, 3, -0.2f, 0.2f);
  V w2(w.size());
  std::transform(w.begin(), w.end(), w2.begin(), [](float x) { return 2.f * x; });
  for (int adders = 2; adders <= 4; ++adders) {
    const int64_t n = static_cast<int64_t>(w.size());
    const float a = addnet_match_scale(w.data(), n, adders), b = addnet_match_scale(w.data(), n, adders);
    EXPECT_EQ(a, b);
    EXPECT_FLOAT_EQ(addnet_match_scale(w2.data(), n, adders), 2.f * a);
    float m = 0;
    for (float x : w) m = std::max(m, std::fabs(x));
    const float top = a * addnet_coefficients(adders).back();
    EXPECT_GE(top, 0.25f * m * 0.999f);
    EXPECT_LE(top, 4.f * m * 1.001f);
  }
}

TEST(QuantAddNet, DistributionMatchingEdgeCases) {
  V zeros(10, 0.f);
  EXPECT_EQ(addnet_match_scale(zeros.data(), 10, 2), 1.f);
  EXPECT_EQ(addnet_match_scale(nullptr, 0, 3), 1.f);
  V inf = {1.f, std::numeric_limits<float>::infinity()};
  expect_error_naming([&] { addnet_match_scale(inf.data(), 2, 2); }, "finite");
  auto q = make(3, 0.7f);
  q->init(Tensor({4, 4}, 0.f));
  EXPECT_EQ(q->lambda(), 1.f);
  q->init(tensor(codebook_samples(3, 10000, 0.001f, 1)));
  EXPECT_NEAR(q->lambda(), 0.001f, 0.05e-3f);
  EXPECT_EQ(q->scales(), &q->params()[0]->value);
}

TEST(QuantAddNet, LambdaIsADecayFreeParam) {
  auto q = make(4);
  auto ps = q->params();
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0]->name, "lambda");
  EXPECT_EQ(ps[0]->value.shape(), (Shape{1}));
  EXPECT_EQ(ps[0]->grad.shape(), (Shape{1}));
  EXPECT_FALSE(ps[0]->decay);
  EXPECT_EQ(q->latent_clip(), 0.f);
}

// lambda's learning rate is relative to its value at init; the reference is a buffer, so a
// quantizer built over other weights and then restored from a checkpoint uses the original.
TEST(QuantAddNet, LambdaRateIsCheckpointedState) {
  auto a = make(2);
  a->init(tensor(codebook_samples(2, 5000, 0.002f, 3)));
  const float rate = a->params()[0]->lr_scale;
  EXPECT_NEAR(rate, a->lambda(), 1e-9f);
  auto b = make(2);
  b->init(tensor(codebook_samples(2, 5000, 0.05f, 4)));
  EXPECT_GT(b->params()[0]->lr_scale, 10 * rate);
  // What a checkpoint load does: copy params and buffers by name.
  b->params()[0]->value = a->params()[0]->value;
  ASSERT_EQ(b->buffers().size(), 1u);
  EXPECT_EQ(b->buffers()[0].first, "lambda_rate");
  *b->buffers()[0].second = *a->buffers()[0].second;
  Tensor w = tensor({0.001f, -0.003f}), y;
  b->forward(w, y, Context{});
  EXPECT_EQ(b->params()[0]->lr_scale, rate);
}

TEST(QuantAddNet, BadConstructionsAndScales) {
  QuantSpec s = parse_quant_spec("addnet:2");
  expect_error_naming([&] { AddNetQuantizer q(s, Role::kActivation); }, "weight quantizer");
  expect_error_naming([&] { AddNetQuantizer q(s, Role::kActivation); }, "addnet:2");
  expect_error_naming([] { AddNetQuantizer q(parse_quant_spec("int:8"), Role::kWeight); }, "addnet");
  Tensor w = tensor({0.1f}), y;
  for (float bad : {0.f, -0.5f, std::numeric_limits<float>::quiet_NaN()}) {
    auto q = make(2, bad);
    expect_error_naming([&] { q->forward(w, y, Context{}); }, "lambda");
  }
  V out(1);
  expect_error_naming([&] { addnet_forward(w.data(), out.data(), 1, 0.f, 2); }, "lambda");
}

// The class against the scalar reference, including sizes that take the threaded path.
TEST(QuantAddNet, ClassMatchesScalarReference) {
  uint64_t seed = 1;
  for (int adders = 2; adders <= 4; ++adders) {
    for (int64_t n : {1, 7, 1000, 40000, 70001}) {
      SCOPED_TRACE(::testing::Message() << adders << " adders, n = " << n);
      const V w = random_floats(n, seed++, -1.f, 1.f), dy = random_floats(n, seed++);
      auto q = make(adders);
      q->init(tensor(w));
      const float lambda = q->lambda();
      Tensor wt = tensor(w), y, dw;
      q->forward(wt, y, Context{.training = true});
      q->backward(wt, tensor(dy), dw);
      V want_y(w.size()), want_dw(w.size());
      addnet_forward(w.data(), want_y.data(), n, lambda, adders);
      const double want_dl = addnet_backward(w.data(), dy.data(), want_dw.data(), n, lambda, adders);
      EXPECT_EQ(values(y), want_y);
      EXPECT_EQ(values(dw), want_dw);
      EXPECT_NEAR(q->params()[0]->grad[0], want_dl, 1e-5 * std::max(1.0, std::fabs(want_dl)));
    }
  }
  // In place: y may alias w, dw may alias dy.
  V w = random_floats(100, 3), y = w, d = random_floats(100, 4), dw(100);
  addnet_forward(y.data(), y.data(), 100, 0.01f, 2);
  V want(100);
  addnet_forward(w.data(), want.data(), 100, 0.01f, 2);
  EXPECT_EQ(y, want);
  const V dcopy = d;
  const double a = addnet_backward(w.data(), d.data(), d.data(), 100, 0.01f, 2);
  EXPECT_EQ(a, addnet_backward(w.data(), dcopy.data(), dw.data(), 100, 0.01f, 2));
  EXPECT_EQ(d, dw);
}

}  // namespace
}  // namespace lowbit::quant

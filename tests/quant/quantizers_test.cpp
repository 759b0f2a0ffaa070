// The Quantizer objects (quantizer.hpp): forward values on hand cases, surrogate
// gradients, learned-scale gradients against finite differences, state, and the threaded
// classes against the scalar reference functions.
#include "lowbit/quant/quantizer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lowbit/quant/dorefa.hpp"
#include "lowbit/quant/fixed.hpp"
#include "lowbit/quant/progressive.hpp"
#include "lowbit/quant/sign_quantizers.hpp"
#include "lowbit/quant/syq.hpp"
#include "test_util.hpp"

namespace lowbit::quant {
namespace {

using V = std::vector<float>;

Tensor tensor(const Shape& s, const V& v) {
  Tensor t(s);
  for (size_t i = 0; i < v.size(); ++i) t[static_cast<int64_t>(i)] = v[i];
  return t;
}
V values(const Tensor& t) { return V(t.data(), t.data() + t.size()); }

Tensor random_tensor(const Shape& s, uint64_t seed, float lo = -1.5f, float hi = 1.5f) {
  Tensor t(s);
  auto v = testing::random_floats(t.size(), seed, lo, hi);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = v[static_cast<size_t>(i)];
  return t;
}

const Context kTrain{true, nullptr};
const Context kEval{false, nullptr};

V forward(Quantizer& q, const Tensor& x, const Context& ctx = kTrain) {
  Tensor y;
  q.forward(x, y, ctx);
  return values(y);
}

V backward(Quantizer& q, const Tensor& x, const V& dy) {
  Tensor y, dx;
  q.forward(x, y, kTrain);
  q.backward(x, tensor(x.shape(), dy), dx);
  return values(dx);
}

TEST(Quantizers, NoneIsNoQuantizer) { EXPECT_EQ(make_quantizer("none", Role::kWeight), nullptr); }

TEST(Quantizers, BinaryForwardAndSte) {
  auto q = make_quantizer("binary", Role::kActivation);
  Tensor x = tensor({1, 7}, {-2.f, -1.f, -0.3f, 0.f, 0.3f, 1.f, 2.f});
  EXPECT_EQ(forward(*q, x), (V{-1, -1, -1, 1, 1, 1, 1}));
  EXPECT_EQ(backward(*q, x, V(7, 2.f)), (V{0, 2, 2, 2, 2, 2, 0}));
  EXPECT_EQ(q->bits(), 1);
  EXPECT_EQ(q->latent_clip(), 1.f);
}

TEST(Quantizers, BinaryVariantsUseTheirGradients) {
  Tensor x = tensor({4}, {-0.5f, 0.f, 0.25f, 1.5f});
  auto approx = make_quantizer("binary:approx", Role::kActivation);
  EXPECT_EQ(backward(*approx, x, V(4, 1.f)), (V{1.f, 2.f, 1.5f, 0.f}));
  auto swish = make_quantizer("binary:swish:2", Role::kActivation);
  V g = backward(*swish, x, V(4, 1.f));
  EXPECT_FLOAT_EQ(g[1], 2.f);  // peak beta at 0
}

TEST(Quantizers, StochasticMeanMatchesProbability) {
  // E[y] = 2 hard_sigmoid(x) - 1 = x on [-1, 1]. With n draws the sample mean has standard
  // deviation sqrt(1 - x^2) / sqrt(n); 5 sigma bounds make a false failure negligible.
  auto q = make_quantizer("stochastic", Role::kWeight);
  const int64_t n = 200000;
  for (float p : {-0.8f, -0.2f, 0.f, 0.5f, 0.9f}) {
    Tensor x({n}, p);
    Rng rng(42);
    Tensor y;
    q->forward(x, y, Context{true, &rng});
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(y[i] == 1.f || y[i] == -1.f);
      mean += y[i];
    }
    mean /= static_cast<double>(n);
    const double sigma = std::sqrt(1.0 - double(p) * p) / std::sqrt(double(n));
    EXPECT_NEAR(mean, p, 5 * sigma + 1e-12) << "x = " << p;
  }
  // Saturated inputs are deterministic, and evaluation is the plain sign.
  Rng rng(1);
  Tensor y;
  q->forward(tensor({4}, {-3.f, -1.f, 1.f, 3.f}), y, Context{true, &rng});
  EXPECT_EQ(values(y), (V{-1, -1, 1, 1}));
  EXPECT_EQ(forward(*q, tensor({3}, {-0.1f, 0.f, 0.1f}), kEval), (V{-1, 1, 1}));
  testing::expect_error_naming([&] { q->forward(tensor({1}, {0.f}), y, kTrain); }, "random stream");
}

TEST(Quantizers, XnorScalesPerChannelAndPerTensor) {
  Tensor w = tensor({2, 3}, {0.5f, -1.f, 0.f, -0.2f, 0.4f, -0.6f});
  auto q = make_quantizer("xnor", Role::kWeight);
  const float a0 = 1.5f / 3, a1 = 1.2f / 3;
  V y = forward(*q, w);
  V want = {a0, -a0, a0, -a1, a1, -a1};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_FLOAT_EQ(y[i], want[i]) << i;
  ASSERT_NE(q->scales(), nullptr);
  EXPECT_EQ(q->scales()->size(), 2);
  EXPECT_FLOAT_EQ((*q->scales())[1], a1);
  auto qt = make_quantizer("xnor:tensor", Role::kWeight);
  y = forward(*qt, w);
  EXPECT_FLOAT_EQ(y[0], 2.7f / 6);
  EXPECT_EQ(qt->scales()->size(), 1);
  testing::expect_error_naming([] { make_quantizer("xnor", Role::kActivation); }, "weights only");
}

TEST(Quantizers, XnorGradientMatchesFiniteDifferencesOfTheScale) {
  // With signs fixed, y_j = a sign(w_j) is smooth in w through a = mean|w|: the mean term of
  // the backward is exact there; the STE term adds a dy_j. Check the sum against a
  // numerical derivative of L = sum c_j y_j plus the STE part.
  Tensor w = random_tensor({3, 5}, 7, -0.9f, 0.9f);
  for (int64_t i = 0; i < w.size(); ++i)
    if (std::fabs(w[i]) < 0.05f) w[i] = 0.3f;  // keep away from the sign jump
  Tensor c = random_tensor({3, 5}, 8);
  auto q = make_quantizer("xnor", Role::kWeight);
  V g = backward(*q, w, values(c));
  auto loss = [&](const Tensor& ww) {
    Tensor y;
    q->forward(ww, y, kTrain);
    double s = 0;
    for (int64_t i = 0; i < y.size(); ++i) s += double(c[i]) * y[i];
    return s;
  };
  Tensor scratch;
  for (int64_t j = 0; j < w.size(); ++j) {
    Tensor wp = w, wm = w;
    wp[j] += 1e-3f;
    wm[j] -= 1e-3f;
    const double numeric = (loss(wp) - loss(wm)) / 2e-3;
    const int64_t row = j / 5;
    q->forward(w, scratch, kTrain);  // alpha of the unperturbed w, for the STE term
    const double ste = double((*q->scales())[row]) * c[j];
    EXPECT_NEAR(g[static_cast<size_t>(j)], numeric + ste, 2e-3) << j;
  }
}

TEST(Quantizers, TernaryTwnAndFixedThresholds) {
  auto q = make_quantizer("ternary", Role::kWeight);
  Tensor w = tensor({6}, {-1.f, -0.5f, -0.1f, 0.f, 0.2f, 0.7f});
  // 0.7 * mean|w| = 0.7 * 2.5 / 6
  const float t = 0.7f * 2.5f / 6;
  EXPECT_NEAR(static_cast<TernaryQuantizer&>(*q).last_threshold(), 0.f, 0.f);
  EXPECT_EQ(forward(*q, w), (V{-1, -1, 0, 0, 0, 1}));
  EXPECT_FLOAT_EQ(static_cast<TernaryQuantizer&>(*q).last_threshold(), t);
  auto fixed = make_quantizer("ternary:0.5", Role::kActivation);
  EXPECT_EQ(forward(*fixed, tensor({5}, {-0.6f, -0.5f, 0.f, 0.5f, 0.51f})), (V{-1, 0, 0, 0, 1}));
  EXPECT_EQ(backward(*fixed, tensor({3}, {-1.5f, 0.2f, 1.f}), V(3, 1.f)), (V{0, 1, 1}));
  testing::expect_error_naming([] { make_quantizer("ternary", Role::kActivation); }, "ternary:0.5");
}

TEST(Quantizers, SyqInitialisesScalesToSubgroupMeans) {
  // conv weights (out 2, in 1, 2x2): pixel groups are the 4 kernel positions, rows the 2 rows.
  Tensor w = tensor({2, 1, 2, 2}, {1.f, -2.f, 3.f, -4.f, -5.f, 6.f, -7.f, 8.f});
  auto pixel = make_quantizer("syq:binary:pixel", Role::kWeight);
  pixel->init(w);
  EXPECT_EQ(values(*pixel->scales()), (V{3.f, 4.f, 5.f, 6.f}));
  auto row = make_quantizer("syq:binary:row", Role::kWeight);
  row->init(w);
  EXPECT_EQ(values(*row->scales()), (V{3.5f, 5.5f}));
  auto layer = make_quantizer("syq:binary", Role::kWeight);
  layer->init(w);
  EXPECT_EQ(values(*layer->scales()), (V{4.5f}));
  EXPECT_EQ(forward(*pixel, w), (V{3, -4, 5, -6, -3, 4, -5, 6}));
  // Dense weights have a 1x1 kernel: one scale for row and pixel alike.
  auto dense_row = make_quantizer("syq:binary:row", Role::kWeight);
  dense_row->init(tensor({2, 2}, {1.f, -3.f, 2.f, 2.f}));
  EXPECT_EQ(values(*dense_row->scales()), (V{2.f}));
  EXPECT_EQ(pixel->params().size(), 1u);
  EXPECT_EQ(pixel->params()[0]->name, "alpha");
}

TEST(Quantizers, SyqTernaryThresholdAndGradients) {
  Tensor w = tensor({1, 1, 1, 4}, {-1.f, -0.04f, 0.05f, 0.5f});  // eta = 0.05 * 1
  auto q = make_quantizer("syq:ternary:pixel", Role::kWeight);
  q->init(w);
  EXPECT_EQ(forward(*q, w), (V{-1.f, 0.f, 0.05f, 0.5f}));  // scales = |w| per pixel; -0.04 -> 0
  V dy = {1.f, 2.f, 3.f, 4.f};
  V dw = backward(*q, w, dy);
  // eq. 5.11: dW_j = alpha_g dy_j;  eq. 5.10: dalpha_g = sum dy_j Q_j.
  EXPECT_EQ(dw, (V{1.f * 1.f, 0.04f * 2.f, 0.05f * 3.f, 0.5f * 4.f}));
  EXPECT_EQ(values(q->params()[0]->grad), (V{-1.f, 0.f, 3.f, 4.f}));
}

TEST(Quantizers, SyqScaleGradientMatchesFiniteDifferences) {
  Tensor w = random_tensor({4, 3, 3, 3}, 11);
  Tensor c = random_tensor({4, 3, 3, 3}, 12);
  for (const char* spec : {"syq:binary", "syq:binary:row", "syq:ternary:pixel"}) {
    SCOPED_TRACE(spec);
    auto q = make_quantizer(spec, Role::kWeight);
    q->init(w);
    Param& alpha = *q->params()[0];
    (void)backward(*q, w, values(c));
    const Tensor analytic = alpha.grad;
    auto loss = [&] {
      Tensor y;
      q->forward(w, y, kTrain);
      double s = 0;
      for (int64_t i = 0; i < y.size(); ++i) s += double(c[i]) * y[i];
      return s;
    };
    for (int64_t g = 0; g < alpha.value.size(); ++g) {
      const float a = alpha.value[g];
      alpha.value[g] = a + 1e-2f;
      const double up = loss();
      alpha.value[g] = a - 1e-2f;
      const double down = loss();
      alpha.value[g] = a;
      EXPECT_NEAR(analytic[g], (up - down) / 2e-2, 1e-3 * (1 + std::fabs(analytic[g]))) << g;
    }
  }
}

TEST(Quantizers, ProgressiveScheduleEndpointsAndForward) {
  EXPECT_FLOAT_EQ(progressive_scale(0.0, 1000.f), 1.f);
  EXPECT_FLOAT_EQ(progressive_scale(1.0, 1000.f), 1000.f);
  EXPECT_NEAR(progressive_scale(0.5, 1000.f), std::sqrt(1000.f), 1e-3);
  EXPECT_FLOAT_EQ(progressive_scale(2.0, 1000.f), 1000.f);  // clamped
  EXPECT_FLOAT_EQ(progressive_scale(1.0, 50.f), 50.f);
  auto q = make_quantizer("progressive", Role::kWeight);
  auto& p = static_cast<ProgressiveQuantizer&>(*q);
  Tensor x = tensor({5}, {-2.f, -0.5f, 0.f, 0.004f, 0.5f});
  q->set_progress(0.0);
  EXPECT_EQ(forward(*q, x), (V{-1.f, -0.5f, 0.f, 0.004f, 0.5f}));  // v = 1: hard tanh
  EXPECT_EQ(backward(*q, x, V(5, 1.f)), (V{0, 1, 1, 1, 1}));
  q->set_progress(1.0);
  EXPECT_FLOAT_EQ(p.v(), 1000.f);
  V y = forward(*q, x);
  EXPECT_EQ(y, (V{-1.f, -1.f, 0.f, 1.f, 1.f}));  // v P clipped; 0.004 * 1000 = 4 -> 1
  EXPECT_EQ(backward(*q, tensor({3}, {0.0005f, 0.002f, -0.001f}), V(3, 1.f)), (V{1000.f, 0.f, 1000.f}));
  // Evaluation (and export) use sign(P).
  EXPECT_EQ(forward(*q, x, kEval), (V{-1, -1, 1, 1, 1}));
  ASSERT_EQ(q->buffers().size(), 1u);
  EXPECT_EQ(q->buffers()[0].first, "v");
}

TEST(Quantizers, DoReFaClassMatchesScalarReference) {
  for (int64_t n : {1, 7, 1000, 40001}) {  // 40001 runs the threaded path
    SCOPED_TRACE(n);
    Tensor w = random_tensor({n}, 100 + static_cast<uint64_t>(n), -3.f, 3.f);
    Tensor dy = random_tensor({n}, 200 + static_cast<uint64_t>(n));
    for (int k : {1, 2, 4}) {
      auto q = make_quantizer("dorefa:" + std::to_string(k), Role::kWeight);
      V ref(static_cast<size_t>(n)), gref(static_cast<size_t>(n));
      dorefa_weight_forward(w.data(), ref.data(), n, k);
      dorefa_weight_backward(w.data(), dy.data(), gref.data(), n);
      EXPECT_EQ(forward(*q, w), ref);
      V g = backward(*q, w, values(dy));
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(g[static_cast<size_t>(i)], gref[static_cast<size_t>(i)], 1e-5) << i;
      auto a = make_quantizer("dorefa:" + std::to_string(k), Role::kActivation);
      dorefa_act_forward(w.data(), ref.data(), n, k);
      dorefa_act_backward(w.data(), dy.data(), gref.data(), n);
      EXPECT_EQ(forward(*a, w), ref);
      EXPECT_EQ(backward(*a, w, values(dy)), gref);
    }
  }
}

TEST(Quantizers, FixedClassMatchesScalarReferenceAndIsActivationOnly) {
  Tensor x = random_tensor({40001}, 5, -1.f, 5.f);
  Tensor dy = random_tensor({40001}, 6);
  auto q = make_quantizer("fixed:4,2", Role::kActivation);
  V ref(40001), gref(40001);
  fixed_act_forward(x.data(), ref.data(), 40001, 4, 2);
  fixed_act_backward(x.data(), dy.data(), gref.data(), 40001, 4, 2);
  EXPECT_EQ(forward(*q, x), ref);
  EXPECT_EQ(backward(*q, x, values(dy)), gref);
  testing::expect_error_naming([] { make_quantizer("fixed:4,2", Role::kWeight); }, "activations only");
}

TEST(Quantizers, WeightOnlyFamiliesRejectActivations) {
  for (const char* s : {"xnor", "syq:binary", "addnet:2", "int:8:channel"}) {
    SCOPED_TRACE(s);
    testing::expect_error_naming([&] { make_quantizer(s, Role::kActivation); }, "weights only");
  }
}

TEST(Quantizers, BadSpecListsTheValidForms) {
  for (const char* s : {"dorefa:0", "int:33", "binarry"}) {
    SCOPED_TRACE(s);
    std::string msg = testing::error_of([&] { make_quantizer(s, Role::kWeight); });
    EXPECT_NE(msg.find(valid_quant_forms()), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace lowbit::quant

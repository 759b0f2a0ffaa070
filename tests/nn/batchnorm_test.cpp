#include "lowbit/nn/batchnorm.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <vector>

#include "lowbit/core/error.hpp"
#include "nn/gradcheck.hpp"
#include "optim/optim_test_util.hpp"

namespace lowbit {
namespace {

using lowbit::testing::random_tensor;

// Per-channel statistics in double: channel dim 1, everything else reduced.
struct Stats {
  std::vector<double> mean, var;  // biased var
  int64_t count;
};

Stats channel_stats(const Tensor& x) {
  const int64_t N = x.dim(0), C = x.dim(1), S = x.size() / (N * C);
  Stats st{std::vector<double>(C, 0.0), std::vector<double>(C, 0.0), N * S};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) st.mean[c] += x[(n * C + c) * S + s];
  for (auto& m : st.mean) m /= static_cast<double>(st.count);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const double d = x[(n * C + c) * S + s] - st.mean[c];
        st.var[c] += d * d;
      }
  for (auto& v : st.var) v /= static_cast<double>(st.count);
  return st;
}

Tensor shifted(const Shape& shape, uint64_t seed, float scale, float offset) {
  Tensor t = random_tensor(shape, seed, -scale, scale);
  for (float& v : t) v += offset;
  return t;
}

TEST(BatchNorm, TrainingNormalisesToZeroMeanUnitVariance) {
  for (const Shape& shape : {Shape{16, 5}, Shape{4, 3, 5, 7}, Shape{1, 7, 6, 6}, Shape{3, 130}, Shape{2, 3, 4}}) {
    SCOPED_TRACE(shape_str(shape));
    nn::BatchNorm bn(shape[1]);
    Tensor x = shifted(shape, 3, 2.f, 1.5f), y;
    bn.forward(x, y, {true, nullptr});
    ASSERT_EQ(y.shape(), x.shape());
    const Stats st = channel_stats(y);
    for (int64_t c = 0; c < shape[1]; ++c) {
      EXPECT_NEAR(st.mean[c], 0.0, 1e-5);
      EXPECT_NEAR(st.var[c], 1.0, 1e-3);
    }
  }
}

TEST(BatchNorm, LargeMeanSmallSpreadIsStillAccurate) {
  nn::BatchNorm bn(3, 0.1f, 1e-5f);
  Tensor x = shifted({64, 3, 4, 4}, 5, 0.5f, 1000.f), y;
  bn.forward(x, y, {true, nullptr});
  const Stats st = channel_stats(y);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(st.mean[c], 0.0, 1e-3);
    EXPECT_NEAR(st.var[c], 1.0, 2e-3);
  }
}

TEST(BatchNorm, RunningStatisticsFollowPyTorch) {
  for (const Shape& shape : {Shape{6, 4}, Shape{3, 4, 5, 2}}) {
    SCOPED_TRACE(shape_str(shape));
    const float momentum = 0.25f;
    nn::BatchNorm bn(4, momentum);
    Tensor x = shifted(shape, 7, 1.f, 0.5f), y;
    bn.forward(x, y, {true, nullptr});
    const Stats st = channel_stats(x);
    const double m = st.count;
    for (int c = 0; c < 4; ++c) {
      EXPECT_NEAR(bn.running_mean()[c], momentum * st.mean[c], 1e-6);
      EXPECT_NEAR(bn.running_var()[c], (1 - momentum) * 1.0 + momentum * st.var[c] * m / (m - 1), 1e-6);
    }
    // A second step blends again.
    const std::vector<float> rm(bn.running_mean().begin(), bn.running_mean().end());
    const std::vector<float> rv(bn.running_var().begin(), bn.running_var().end());
    Tensor x2 = shifted(shape, 8, 2.f, -1.f);
    bn.forward(x2, y, {true, nullptr});
    const Stats st2 = channel_stats(x2);
    for (int c = 0; c < 4; ++c) {
      EXPECT_NEAR(bn.running_mean()[c], (1 - momentum) * rm[c] + momentum * st2.mean[c], 1e-5);
      EXPECT_NEAR(bn.running_var()[c], (1 - momentum) * rv[c] + momentum * st2.var[c] * m / (m - 1), 1e-5);
    }
    // Eval leaves them alone.
    bn.forward(x2, y, {false, nullptr});
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(bn.running_mean()[c], (1 - momentum) * rm[c] + momentum * st2.mean[c], 1e-5);
  }
}

void set_state(nn::BatchNorm& bn, uint64_t seed) {
  const int64_t C = bn.per_tensor() ? 1 : bn.channels();
  bn.running_mean() = random_tensor({C}, seed, -1.f, 1.f);
  bn.running_var() = random_tensor({C}, seed + 1, 0.5f, 2.f);
  if (bn.affine()) {
    bn.gamma()->value = random_tensor({C}, seed + 2, 0.5f, 1.5f);
    bn.beta()->value = random_tensor({C}, seed + 3, -1.f, 1.f);
  }
}

TEST(BatchNorm, EvalUsesRunningStatistics) {
  nn::BatchNorm bn(3, 0.1f, 1e-3f);
  set_state(bn, 11);
  Tensor x = random_tensor({2, 3, 2, 3}, 12), y;
  bn.forward(x, y, {false, nullptr});
  std::vector<double> scale, shift;
  bn.eval_scale_shift(scale, shift);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t s = 0; s < 6; ++s) {
        const int64_t i = (n * 3 + c) * 6 + s;
        const double expect = bn.gamma()->value[c] * (x[i] - bn.running_mean()[c]) /
                                  std::sqrt(static_cast<double>(bn.running_var()[c]) + 1e-3) +
                              bn.beta()->value[c];
        EXPECT_NEAR(y[i], expect, 1e-5);
        EXPECT_NEAR(y[i], scale[c] * x[i] + shift[c], 1e-5);
      }
}

// Export folds thresholds with bn_eval and eval_constants: they must be evaluation bit for
// bit, for dense (S = 1) and spatial inputs, with and without the affine parameters.
TEST(BatchNorm, EvalConstantsReproduceEvaluationExactly) {
  uint64_t seed = 40;
  for (const Shape& shape : {Shape{5, 7}, Shape{3, 4, 5, 3}, Shape{2, 70}})
    for (bool affine : {true, false}) {
      nn::BatchNorm bn(shape[1], 0.1f, 1e-5f, affine);
      set_state(bn, seed++);
      Tensor x = random_tensor(shape, seed++, -50.f, 50.f), y;
      bn.forward(x, y, {false, nullptr});
      std::vector<float> mean, scale, shift;
      bn.eval_constants(mean, scale, shift);
      const int64_t C = shape[1], S = x.size() / (shape[0] * C);
      for (int64_t i = 0; i < x.size(); ++i) {
        const auto c = static_cast<size_t>((i / S) % C);
        ASSERT_EQ(y[i], nn::bn_eval(x[i], mean[c], scale[c], shift[c])) << i;
      }
    }
}

TEST(BatchNorm, GradientsInTrainingMode) {
  uint64_t seed = 20;
  for (const Shape& shape : {Shape{4, 3}, Shape{7, 5}, Shape{2, 3, 3, 3}, Shape{1, 5, 3, 2}, Shape{3, 7, 1, 1},
                             Shape{2, 5, 4}}) {
    SCOPED_TRACE(shape_str(shape));
    for (bool affine : {true, false}) {
      nn::BatchNorm bn(shape[1], 0.1f, 1e-5f, affine);
      set_state(bn, seed++);
      lowbit::testing::check_gradients(bn, shifted(shape, seed++, 2.f, 0.3f));
    }
  }
}

TEST(BatchNorm, GradientsInEvalMode) {
  uint64_t seed = 60;
  for (const Shape& shape : {Shape{1, 3}, Shape{5, 7}, Shape{2, 3, 3, 3}, Shape{1, 5, 2, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    for (bool affine : {true, false}) {
      nn::BatchNorm bn(shape[1], 0.1f, 1e-5f, affine);
      set_state(bn, seed++);
      lowbit::testing::GradCheckOptions o;
      o.training = false;
      lowbit::testing::check_gradients(bn, shifted(shape, seed++, 2.f, 0.3f), o);
    }
  }
}

// Frozen (PBNN's threshold form, issue 16): a training forward computes what evaluation
// computes, bit for bit, leaves the running statistics alone and works on one value per
// channel; backward is the affine map (finite differences, training context); and the sign
// of the output is XNOR(x > T, gamma > 0) with T = mean - sqrt(var + eps) * beta / gamma.
TEST(BatchNorm, FrozenTrainsWithRunningStatistics) {
  uint64_t seed = 90;
  for (const Shape& shape : {Shape{1, 3}, Shape{6, 4}, Shape{2, 3, 3, 3}}) {
    SCOPED_TRACE(shape_str(shape));
    nn::BatchNorm bn(shape[1], 0.1f, 1e-5f), ref(shape[1], 0.1f, 1e-5f);
    set_state(bn, seed);
    set_state(ref, seed++);
    for (int64_t c = 1; c < shape[1]; c += 2) bn.gamma()->value[c] = ref.gamma()->value[c] *= -1.f;  // both signs
    bn.set_frozen(true);
    const Tensor x = shifted(shape, seed++, 2.f, 0.3f);
    const Tensor mean = bn.running_mean(), var = bn.running_var();
    Tensor y, want;
    bn.forward(x, y, {true, nullptr});
    ref.forward(x, want, {false, nullptr});
    EXPECT_TRUE(lowbit::testing::bitwise_equal(y, want));
    EXPECT_TRUE(lowbit::testing::bitwise_equal(bn.running_mean(), mean));
    EXPECT_TRUE(lowbit::testing::bitwise_equal(bn.running_var(), var));
    const int64_t C = shape[1], S = x.size() / (shape[0] * C);
    for (int64_t i = 0; i < x.size(); ++i) {
      const int64_t c = (i / S) % C;
      const double g = bn.gamma()->value[c], b = bn.beta()->value[c];
      const double t = bn.running_mean()[c] - std::sqrt(static_cast<double>(bn.running_var()[c]) + 1e-5) * b / g;
      if (std::fabs(x[i] - t) < 1e-4) continue;  // too close to call in float
      EXPECT_EQ(y[i] > 0, (x[i] > t) == (g > 0)) << i;
    }
    lowbit::testing::check_gradients(bn, x);  // a training context: the frozen map's gradient
    bn.set_frozen(false);
    if (x.size() / C < 2) continue;  // one value per channel: only the frozen form trains on it
    bn.forward(x, y, {true, nullptr});
    EXPECT_FALSE(lowbit::testing::bitwise_equal(bn.running_mean(), mean));  // batch statistics again
  }
}

// per_tensor: one set of statistics over every channel and position of the batch, one
// gamma/beta; the same map for every channel in evaluation; backward checked against
// finite differences in both modes.
TEST(BatchNorm, PerTensorSharesOneMapAcrossChannels) {
  uint64_t seed = 90;
  for (const Shape& shape : {Shape{6, 5}, Shape{3, 4, 3, 2}, Shape{1, 10}}) {
    SCOPED_TRACE(shape_str(shape));
    nn::BatchNorm bn(shape[1], 0.1f, 1e-5f, true, true);
    EXPECT_EQ(bn.gamma()->value.size(), 1);
    EXPECT_EQ(bn.running_var().size(), 1);
    EXPECT_EQ(bn.spec()["per_tensor"], true);
    Tensor x = shifted(shape, seed++, 3.f, 0.7f), y;
    bn.forward(x, y, {true, nullptr});
    double mean = 0, var = 0;
    for (float v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (float v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(x.size());
    for (int64_t i = 0; i < x.size(); ++i) EXPECT_NEAR(y[i], (x[i] - mean) / std::sqrt(var + 1e-5), 1e-4) << i;
    EXPECT_NEAR(bn.running_mean()[0], 0.1 * mean, 1e-6);
    set_state(bn, seed++);
    bn.forward(x, y, {false, nullptr});
    std::vector<float> m, sc, sh;
    bn.eval_constants(m, sc, sh);
    ASSERT_EQ(m.size(), static_cast<size_t>(shape[1]));
    const int64_t C = shape[1], S = x.size() / (shape[0] * C);
    for (int64_t i = 0; i < x.size(); ++i) {
      const auto c = static_cast<size_t>((i / S) % C);
      EXPECT_EQ(m[c], m[0]);
      EXPECT_EQ(sc[c], sc[0]);
      ASSERT_EQ(y[i], nn::bn_eval(x[i], m[c], sc[c], sh[c])) << i;
    }
    for (bool training : {true, false}) {
      lowbit::testing::GradCheckOptions o;
      o.training = training;
      lowbit::testing::check_gradients(bn, shifted(shape, seed++, 2.f, 0.3f), o);
    }
  }
}

TEST(BatchNorm, ManyChannelsAndLargeBatchUseParallelPath) {
  // Large enough for the OpenMP path; compare with the double-precision formula.
  for (const Shape& shape : {Shape{128, 300}, Shape{16, 37, 9, 9}}) {
    SCOPED_TRACE(shape_str(shape));
    nn::BatchNorm bn(shape[1]);
    set_state(bn, 3);
    Tensor x = shifted(shape, 4, 1.f, 0.2f), y, dx;
    bn.forward(x, y, {true, nullptr});
    const Stats st = channel_stats(x);
    const int64_t N = shape[0], C = shape[1], S = x.size() / (N * C);
    for (int64_t i = 0; i < x.size(); i += 7) {
      const int64_t c = (i / S) % C;
      const double expect = bn.gamma()->value[c] * (x[i] - st.mean[c]) / std::sqrt(st.var[c] + 1e-5) + bn.beta()->value[c];
      ASSERT_NEAR(y[i], expect, 1e-4);
    }
    // Backward: dbeta = sum dy per channel.
    Tensor dy = random_tensor(x.shape(), 5);
    bn.backward(x, y, dy, &dx);
    const Stats sdy = channel_stats(dy);
    for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(bn.beta()->grad[c], sdy.mean[c] * sdy.count, 1e-3);
  }
}

TEST(BatchNorm, ParamsBuffersSpec) {
  nn::BatchNorm bn(4, 0.2f, 1e-3f);
  auto params = bn.params();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0]->name, "gamma");
  EXPECT_EQ(params[1]->name, "beta");
  EXPECT_FALSE(params[0]->decay);
  EXPECT_FALSE(params[1]->decay);
  for (float v : params[0]->value) EXPECT_EQ(v, 1.f);
  for (float v : params[1]->value) EXPECT_EQ(v, 0.f);
  auto buffers = bn.buffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].first, "running_mean");
  EXPECT_EQ(buffers[1].first, "running_var");
  for (float v : *buffers[1].second) EXPECT_EQ(v, 1.f);
  const nn::json spec = bn.spec();
  EXPECT_EQ(spec["type"], "batchnorm");
  EXPECT_FLOAT_EQ(spec["momentum"].get<float>(), 0.2f);
  EXPECT_FLOAT_EQ(spec["eps"].get<float>(), 1e-3f);
  EXPECT_EQ(spec["affine"], true);
  EXPECT_EQ(bn.output_shape({4, 5, 5}), (Shape{4, 5, 5}));
  EXPECT_EQ(bn.output_shape({4}), (Shape{4}));
  nn::BatchNorm plain(4, 0.1f, 1e-5f, false);
  EXPECT_TRUE(plain.params().empty());
  EXPECT_EQ(plain.gamma(), nullptr);
}

TEST(BatchNorm, BackwardOverwritesGradients) {
  nn::BatchNorm bn(3);
  Tensor x = random_tensor({4, 3, 2, 2}, 1), y, dx;
  bn.forward(x, y, {true, nullptr});
  Tensor dy = random_tensor(y.shape(), 2);
  bn.backward(x, y, dy, &dx);
  const Tensor g = bn.gamma()->grad, b = bn.beta()->grad, d = dx;
  bn.backward(x, y, dy, nullptr);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(bn.gamma()->grad[c], g[c]);
    EXPECT_EQ(bn.beta()->grad[c], b[c]);
  }
  bn.backward(x, y, dy, &dx);
  for (int64_t i = 0; i < d.size(); ++i) EXPECT_EQ(dx[i], d[i]);
}

using lowbit::testing::expect_error_naming;

TEST(BatchNorm, BadInputsNameTheLayer) {
  nn::BatchNorm bn(4);
  bn.set_name("bn_3");
  Tensor y;
  expect_error_naming([&] { bn.forward(Tensor({2, 3}, 0.f), y, {true, nullptr}); }, "bn_3");
  expect_error_naming([&] { bn.forward(Tensor({2, 5, 3, 3}, 0.f), y, {false, nullptr}); }, "bn_3");
  expect_error_naming([&] { bn.forward(Tensor({4}, 0.f), y, {false, nullptr}); }, "bn_3");
  expect_error_naming([&] { (void)bn.output_shape({3, 2, 2}); }, "bn_3");
  // One value per channel cannot be normalised in training (as in PyTorch); eval is fine.
  expect_error_naming([&] { bn.forward(Tensor({1, 4}, 0.f), y, {true, nullptr}); }, "bn_3");
  EXPECT_NO_THROW(bn.forward(Tensor({1, 4}, 0.f), y, {false, nullptr}));
  EXPECT_THROW(nn::BatchNorm(0), Error);
  EXPECT_THROW(nn::BatchNorm(3, 1.5f), Error);
  EXPECT_THROW(nn::BatchNorm(3, 0.1f, 0.f), Error);
}

}  // namespace
}  // namespace lowbit

#include "lowbit/nn/conv2d.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "lowbit/core/error.hpp"
#include "lowbit/core/threading.hpp"
#include "lowbit/kernels/im2col.hpp"
#include "nn/gradcheck.hpp"

namespace lowbit {
namespace {

using lowbit::testing::random_tensor;

struct ConvCase {
  int n, c, h, w, oc, kh, kw, sh, sw, ph, pw;
  bool bias;
};

std::ostream& operator<<(std::ostream& os, const ConvCase& k) {
  return os << "N" << k.n << " C" << k.c << " " << k.h << "x" << k.w << " -> " << k.oc << " k" << k.kh << "x" << k.kw
            << " s" << k.sh << "x" << k.sw << " p" << k.ph << "x" << k.pw << (k.bias ? " bias" : "");
}

nn::Conv2d make(const ConvCase& k, uint64_t seed) {
  nn::Conv2d conv(k.c, k.oc, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, k.bias);
  Rng rng(seed);
  conv.init(rng);
  if (k.bias) conv.bias()->value = random_tensor({k.oc}, seed + 100);
  return conv;
}

// Random and edge shapes: 1x1, stride 2, padding 1 and 2, odd sizes, kernel == input,
// batch 1, C = 1, channel counts that are not multiples of 8, small outputs (grouped gemm).
const std::vector<ConvCase> kCases{
    {2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, true},     {1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, true},
    {3, 5, 7, 9, 7, 3, 3, 2, 2, 1, 1, true},     {2, 7, 6, 6, 5, 1, 1, 1, 1, 0, 0, true},
    {4, 3, 5, 5, 6, 5, 5, 1, 1, 0, 0, false},    {1, 4, 9, 7, 3, 3, 3, 2, 2, 2, 2, true},
    {5, 2, 4, 4, 3, 3, 3, 1, 1, 2, 2, false},    {3, 6, 11, 13, 9, 3, 5, 1, 2, 1, 2, true},
    {6, 9, 3, 3, 10, 3, 3, 1, 1, 0, 0, true},    {7, 5, 8, 8, 11, 1, 1, 2, 2, 0, 0, true},
    {9, 3, 4, 4, 5, 1, 1, 1, 1, 0, 0, true},     {2, 13, 15, 15, 17, 3, 3, 1, 1, 1, 1, true},
    {1, 3, 32, 32, 8, 3, 3, 1, 1, 1, 1, true},   {17, 7, 5, 5, 6, 2, 2, 2, 2, 0, 0, true},
    {4, 1, 28, 28, 3, 5, 5, 1, 1, 2, 2, true},   {3, 5, 6, 7, 4, 4, 2, 3, 1, 1, 0, false},
    {33, 8, 2, 2, 16, 2, 2, 1, 1, 0, 0, true},   {5, 3, 1, 1, 4, 3, 3, 1, 1, 1, 1, true},
};

TEST(Conv2d, ForwardMatchesDirectReference) {
  uint64_t seed = 1;
  for (const ConvCase& k : kCases) {
    SCOPED_TRACE(::testing::Message() << k);
    nn::Conv2d conv = make(k, seed++);
    Tensor x = random_tensor({k.n, k.c, k.h, k.w}, seed++), y;
    conv.forward(x, y, {});
    const int64_t oh = kernels::conv_out_size(k.h, k.kh, k.sh, k.ph), ow = kernels::conv_out_size(k.w, k.kw, k.sw, k.pw);
    ASSERT_EQ(y.shape(), (Shape{k.n, k.oc, oh, ow}));
    Tensor ref(y.shape());
    kernels::conv2d_ref(x.data(), conv.weight().value.data(), k.bias ? conv.bias()->value.data() : nullptr, k.n, k.c,
                        k.h, k.w, k.oc, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, ref.data());
    int bad = 0;
    for (int64_t i = 0; i < y.size() && bad < 5; ++i)
      if (std::abs(y[i] - ref[i]) > 1e-4f * (1.f + std::abs(ref[i]))) {
        ADD_FAILURE() << "y[" << i << "] = " << y[i] << ", reference " << ref[i];
        ++bad;
      }
  }
}

void expect_close(const Tensor& a, const Tensor& b, const char* what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double scale = 0;
  for (int64_t i = 0; i < b.size(); ++i) scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  int bad = 0;
  for (int64_t i = 0; i < a.size() && bad < 5; ++i)
    if (std::abs(a[i] - b[i]) > 1e-5 * (1 + scale)) {
      ADD_FAILURE() << what << "[" << i << "] = " << a[i] << ", reference " << b[i];
      ++bad;
    }
}

TEST(Conv2d, BackwardMatchesDirectReference) {
  uint64_t seed = 50;
  for (const ConvCase& k : kCases) {
    SCOPED_TRACE(::testing::Message() << k);
    nn::Conv2d conv = make(k, seed++);
    Tensor x = random_tensor({k.n, k.c, k.h, k.w}, seed++), y, dx;
    conv.forward(x, y, {true, nullptr});
    Tensor dy = random_tensor(y.shape(), seed++);
    conv.backward(x, y, dy, &dx);
    Tensor dx_ref(x.shape()), dw_ref(conv.weight().value.shape()), db_ref({k.oc});
    kernels::conv2d_backward_ref(x.data(), conv.weight().value.data(), dy.data(), k.n, k.c, k.h, k.w, k.oc, k.kh, k.kw,
                                 k.sh, k.sw, k.ph, k.pw, dx_ref.data(), dw_ref.data(), db_ref.data());
    expect_close(dx, dx_ref, "dx");
    expect_close(conv.weight().grad, dw_ref, "dW");
    if (k.bias) expect_close(conv.bias()->grad, db_ref, "db");
  }
}

TEST(Conv2d, GradientsMatchFiniteDifferences) {
  const std::vector<ConvCase> cases{
      {1, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, true}, {2, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, true},
      {1, 5, 7, 6, 3, 3, 3, 2, 2, 1, 1, true}, {3, 7, 3, 3, 2, 1, 1, 1, 1, 0, 0, true},
      {2, 3, 5, 4, 4, 2, 3, 2, 1, 2, 1, false}, {1, 2, 3, 3, 3, 3, 3, 1, 1, 0, 0, true},
      {5, 2, 2, 2, 3, 1, 1, 1, 1, 0, 0, true},  {2, 3, 6, 6, 2, 2, 2, 2, 2, 0, 0, true}};
  uint64_t seed = 200;
  for (const ConvCase& k : cases) {
    SCOPED_TRACE(::testing::Message() << k);
    nn::Conv2d conv = make(k, seed++);
    lowbit::testing::check_gradients(conv, random_tensor({k.n, k.c, k.h, k.w}, seed++));
  }
}

// Padding with -1 or +1 (binary networks, ARCHITECTURE.md): the forward reads the pad
// value at padded taps, the weight gradient sees it too, the input gradient drops it.
TEST(Conv2d, PadValueForwardAndGradients) {
  uint64_t seed = 300;
  for (float pad_value : {-1.f, 1.f})
    for (const ConvCase& k : {ConvCase{2, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, true}, ConvCase{1, 4, 6, 7, 3, 3, 2, 2, 1, 2, 1, false}}) {
      SCOPED_TRACE(::testing::Message() << k << " pad_value " << pad_value);
      nn::Conv2d conv = make(k, seed++);
      conv.set_pad_value(pad_value);
      Tensor x = random_tensor({k.n, k.c, k.h, k.w}, seed++), y;
      conv.forward(x, y, {});
      Tensor ref(y.shape());
      kernels::conv2d_ref(x.data(), conv.weight().value.data(), k.bias ? conv.bias()->value.data() : nullptr, k.n, k.c,
                          k.h, k.w, k.oc, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw, ref.data(), pad_value);
      expect_close(y, ref, "y");
      lowbit::testing::check_gradients(conv, x);
      EXPECT_EQ(conv.spec().at("pad_value").get<float>(), pad_value);
    }
  nn::Conv2d conv(1, 1, 3, 3, 1, 1, 1, 1, false);
  EXPECT_THROW(conv.set_pad_value(0.5f), Error);
}

TEST(Conv2d, BackwardOverwritesAndSkipsInputGradient) {
  ConvCase k{4, 3, 6, 6, 5, 3, 3, 1, 1, 1, 1, true};
  nn::Conv2d conv = make(k, 3);
  Tensor x = random_tensor({4, 3, 6, 6}, 4), y, dx;
  conv.forward(x, y, {});
  Tensor dy = random_tensor(y.shape(), 5);
  conv.backward(x, y, dy, &dx);
  const Tensor dw = conv.weight().grad, db = conv.bias()->grad;
  conv.backward(x, y, dy, nullptr);  // second call: same grads (overwritten, not accumulated)
  for (int64_t i = 0; i < dw.size(); ++i) ASSERT_EQ(conv.weight().grad[i], dw[i]);
  for (int64_t i = 0; i < db.size(); ++i) ASSERT_EQ(conv.bias()->grad[i], db[i]);
}

TEST(Conv2d, DeterministicForAFixedThreadCountAndConsistentAcrossCounts) {
  const int saved = num_threads();
  ConvCase k{13, 6, 7, 7, 8, 3, 3, 1, 1, 1, 1, true};
  nn::Conv2d conv = make(k, 8);
  Tensor x = random_tensor({13, 6, 7, 7}, 9), y, dx;
  conv.forward(x, y, {});
  Tensor dy = random_tensor(y.shape(), 10);
  std::vector<Tensor> grads;
  for (int t : {1, 2, 3, 4, 4}) {
    set_num_threads(t);
    Tensor y2;
    conv.forward(x, y2, {});
    for (int64_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y2[i], y[i], 1e-5) << "threads " << t;
    conv.backward(x, y2, dy, &dx);
    grads.push_back(conv.weight().grad);
  }
  set_num_threads(saved);
  for (size_t g = 1; g < grads.size(); ++g)
    for (int64_t i = 0; i < grads[0].size(); ++i) ASSERT_NEAR(grads[g][i], grads[0][i], 1e-4);
  // Same thread count twice: bitwise identical.
  for (int64_t i = 0; i < grads[3].size(); ++i) ASSERT_EQ(grads[3][i], grads[4][i]);
}

TEST(Conv2d, ReusesScratchAcrossBatchSizes) {
  ConvCase k{8, 3, 9, 9, 4, 3, 3, 2, 2, 1, 1, true};
  nn::Conv2d conv = make(k, 11);
  for (int n : {8, 3, 1, 8, 5}) {
    SCOPED_TRACE(n);
    Tensor x = random_tensor({n, 3, 9, 9}, 12 + n), y;
    conv.forward(x, y, {});
    Tensor ref(y.shape());
    kernels::conv2d_ref(x.data(), conv.weight().value.data(), conv.bias()->value.data(), n, 3, 9, 9, 4, 3, 3, 2, 2, 1,
                        1, ref.data());
    for (int64_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-4);
  }
}

TEST(Conv2d, ShapeMacsSpecAndInit) {
  nn::Conv2d conv(3, 16, 3, 3, 2, 1, false, nn::Init::parse("he_uniform"));
  EXPECT_EQ(conv.output_shape({3, 32, 32}), (Shape{16, 16, 16}));
  EXPECT_EQ(conv.macs({3, 32, 32}), 16 * 16 * 16 * 3 * 3 * 3);
  EXPECT_EQ(conv.params().size(), 1u);
  EXPECT_EQ(conv.weight().value.shape(), (Shape{16, 3, 3, 3}));
  const nn::json spec = conv.spec();
  EXPECT_EQ(spec["type"], "conv2d");
  EXPECT_EQ(spec["filters"], 16);
  EXPECT_EQ(spec["kernel"], nn::json::array({3, 3}));
  EXPECT_EQ(spec["stride"], 2);
  EXPECT_EQ(spec["padding"], 1);
  EXPECT_EQ(spec["bias"], false);
  EXPECT_EQ(spec["init"], "he_uniform");

  nn::Conv2d rect(2, 4, 3, 1, 2, 1, 1, 0);
  EXPECT_EQ(rect.output_shape({2, 7, 5}), (Shape{4, 4, 5}));
  EXPECT_EQ(rect.spec()["stride"], nn::json::array({2, 1}));
  EXPECT_EQ(rect.spec()["padding"], nn::json::array({1, 0}));
  ASSERT_NE(rect.bias(), nullptr);
  EXPECT_FALSE(rect.bias()->decay);

  // Glorot uniform with fan_in = in*kh*kw, fan_out = out*kh*kw.
  nn::Conv2d g(8, 16, 3, 3);
  Rng rng(1);
  g.init(rng);
  const float limit = std::sqrt(6.f / (8 * 9 + 16 * 9));
  float mx = 0;
  for (float v : g.weight().value) mx = std::max(mx, std::abs(v));
  EXPECT_LE(mx, limit);
  EXPECT_GT(mx, 0.95f * limit);
}

using lowbit::testing::expect_error_naming;

TEST(Conv2d, BadShapesNameTheLayer) {
  nn::Conv2d conv(3, 4, 5, 5);
  conv.set_name("conv_1");
  Tensor y, dx;
  expect_error_naming([&] { conv.forward(Tensor({2, 2, 8, 8}), y, {}); }, "conv_1");  // channels
  expect_error_naming([&] { conv.forward(Tensor({2, 3, 4, 8}), y, {}); }, "conv_1");  // smaller than kernel
  expect_error_naming([&] { conv.forward(Tensor({3, 8, 8}), y, {}); }, "conv_1");     // no batch dim
  expect_error_naming([&] { (void)conv.output_shape({3, 8}); }, "conv_1");
  Tensor x({2, 3, 8, 8}, 0.f);
  conv.forward(x, y, {});
  expect_error_naming([&] { conv.backward(x, y, Tensor({2, 4, 3, 4}), &dx); }, "conv_1");  // dy shape
  EXPECT_THROW(nn::Conv2d(0, 4, 3, 3), Error);
  EXPECT_THROW(nn::Conv2d(3, 4, 3, 3, 0), Error);
  EXPECT_THROW(nn::Conv2d(3, 4, 3, 3, 1, -1), Error);
}

}  // namespace
}  // namespace lowbit

#include "lowbit/quant/int_affine.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lowbit/quant/spec.hpp"
#include "test_util.hpp"

namespace lowbit::quant {
namespace {

using V = std::vector<float>;
using lowbit::testing::expect_error_naming;
using lowbit::testing::random_floats;

V fq(const V& x, const AffineParams& p) {
  V y(x.size());
  fake_quant_forward(x.data(), y.data(), static_cast<int64_t>(x.size()), p);
  return y;
}

V fq_grad(const V& x, const AffineParams& p, float g = 1.f) {
  V dy(x.size(), g), dx(x.size());
  fake_quant_backward(x.data(), dy.data(), dx.data(), static_cast<int64_t>(x.size()), p);
  return dx;
}

IntQuantizer make(const std::string& spec, Role role) { return IntQuantizer(parse_quant_spec(spec), role); }

Tensor tensor(Shape shape, const V& v) {
  Tensor t(std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t[i] = v[static_cast<size_t>(i)];
  return t;
}

V values(const Tensor& t) { return V(t.begin(), t.end()); }

TEST(QuantInt, CodeRanges) {
  int32_t lo, hi;
  int_code_range(8, IntMode::kAffine, false, lo, hi);
  EXPECT_EQ(lo, 0); EXPECT_EQ(hi, 255);
  int_code_range(8, IntMode::kAffine, true, lo, hi);
  EXPECT_EQ(lo, 1); EXPECT_EQ(hi, 255);
  int_code_range(8, IntMode::kSigned, false, lo, hi);
  EXPECT_EQ(lo, -128); EXPECT_EQ(hi, 127);
  int_code_range(8, IntMode::kSigned, true, lo, hi);
  EXPECT_EQ(lo, -127); EXPECT_EQ(hi, 127);
  int_code_range(2, IntMode::kSigned, false, lo, hi);
  EXPECT_EQ(lo, -2); EXPECT_EQ(hi, 1);
  int_code_range(16, IntMode::kUnsigned, false, lo, hi);
  EXPECT_EQ(lo, 0); EXPECT_EQ(hi, 65535);
  expect_error_naming([&] { int_code_range(4, IntMode::kUnsigned, true, lo, hi); }, "narrow");
  expect_error_naming([&] { int_code_range(1, IntMode::kAffine, false, lo, hi); }, "2..16");
  expect_error_naming([&] { int_code_range(17, IntMode::kAffine, false, lo, hi); }, "2..16");
}

// Range [-1, 3], 8 bits: S = 4/255, and -lo/S = 63.75 is nudged to Z = 64 so that real 0
// is a code; the representable range becomes [-64 S, 191 S].
TEST(QuantInt, AffineZeroPointIsNudgedAndZeroIsExact) {
  AffineParams p = choose_affine_params(-1.f, 3.f, 8, IntMode::kAffine, false);
  EXPECT_FLOAT_EQ(p.scale, 4.f / 255);
  EXPECT_EQ(p.zero_point, 64);
  EXPECT_EQ(p.qmin, 0); EXPECT_EQ(p.qmax, 255);
  const float S = p.scale;
  V y = fq({0.f, -1.f, 3.f, -5.f, 10.f, S, 2.6f * S, -1.4f * S}, p);
  EXPECT_EQ(y[0], 0.f);
  EXPECT_EQ(y[1], S * -64.f);  // -63.75 rounds to -64: lo itself is a code after nudging
  EXPECT_EQ(y[2], S * 191.f);  // 191.25 -> 191
  EXPECT_EQ(y[3], S * -64.f);  // clipped to qmin
  EXPECT_EQ(y[4], S * 191.f);  // clipped to qmax
  EXPECT_EQ(y[5], S * 1.f);
  EXPECT_EQ(y[6], S * 3.f);
  EXPECT_EQ(y[7], S * -1.f);
}

TEST(QuantInt, AffineRangeIsWidenedToContainZero) {
  AffineParams pos = choose_affine_params(1.f, 5.f, 8, IntMode::kAffine, false);
  EXPECT_FLOAT_EQ(pos.scale, 5.f / 255);
  EXPECT_EQ(pos.zero_point, 0);
  AffineParams neg = choose_affine_params(-4.f, -2.f, 8, IntMode::kAffine, false);
  EXPECT_FLOAT_EQ(neg.scale, 4.f / 255);
  EXPECT_EQ(neg.zero_point, 255);
  EXPECT_EQ(fq({0.f, 0.5f, -4.f, -9.f}, neg), (V{0.f, 0.f, -255 * neg.scale, -255 * neg.scale}));
  EXPECT_EQ(fq({0.f, -1.f, 5.f}, pos), (V{0.f, 0.f, 255 * pos.scale}));
}

TEST(QuantInt, AffineNarrowDropsCodeZero) {
  // 2 bits on [0, 3]: full range codes 0..3 (S = 1); narrow codes 1..3 (S = 1.5, Z = 1).
  AffineParams full = choose_affine_params(0.f, 3.f, 2, IntMode::kAffine, false);
  AffineParams narrow = choose_affine_params(0.f, 3.f, 2, IntMode::kAffine, true);
  EXPECT_EQ(full.scale, 1.f); EXPECT_EQ(full.zero_point, 0);
  EXPECT_EQ(narrow.scale, 1.5f); EXPECT_EQ(narrow.zero_point, 1); EXPECT_EQ(narrow.qmin, 1);
  EXPECT_EQ(fq({-1.f, 0.f, 0.9f, 1.2f, 2.2f, 3.f, 4.f}, full), (V{0, 0, 1, 1, 2, 3, 3}));
  EXPECT_EQ(fq({-1.f, 0.f, 0.9f, 1.2f, 2.2f, 3.f, 4.f}, narrow), (V{0, 0, 1.5f, 1.5f, 1.5f, 3, 3}));
}

// Scales that are powers of two make x / S exact, so the ties are real ties: half to even.
TEST(QuantInt, SignedSymmetricRoundsHalfToEven) {
  AffineParams p = choose_affine_params(-0.5f, 1.75f, 4, IntMode::kSigned, false);  // S = 1.75 / 7
  EXPECT_EQ(p.scale, 0.25f);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(p.qmin, -8); EXPECT_EQ(p.qmax, 7);
  EXPECT_EQ(fq({0.125f, 0.375f, 0.625f, -0.125f, -0.375f, -0.625f}, p), (V{0, 0.5f, 0.5f, 0, -0.5f, -0.5f}));
  EXPECT_EQ(fq({0.f, 1.75f, 5.f, -1.75f, -2.f, -9.f}, p), (V{0, 1.75f, 1.75f, -1.75f, -2.f, -2.f}));
  // Symmetric in |lo|: the same scale from the negative side.
  EXPECT_EQ(choose_affine_params(-1.75f, 0.5f, 4, IntMode::kSigned, false).scale, 0.25f);
}

TEST(QuantInt, SignedNarrowDropsMostNegativeCode) {
  AffineParams p = choose_affine_params(-1.75f, 1.f, 4, IntMode::kSigned, true);
  EXPECT_EQ(p.scale, 0.25f);
  EXPECT_EQ(p.qmin, -7); EXPECT_EQ(p.qmax, 7);
  EXPECT_EQ(fq({-2.f, -1.8f, -1.75f, 1.8f}, p), (V{-1.75f, -1.75f, -1.75f, 1.75f}));
}

TEST(QuantInt, UnsignedSymmetricClipsNegativesToZero) {
  AffineParams p = choose_affine_params(-1.f, 3.75f, 4, IntMode::kUnsigned, false);  // S = 3.75 / 15
  EXPECT_EQ(p.scale, 0.25f);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(fq({-1.f, -0.1f, 0.f, 0.125f, 0.375f, 0.625f, 3.75f, 4.f}, p), (V{0, 0, 0, 0, 0.5f, 0.5f, 3.75f, 3.75f}));
  // All-negative range: nothing to represent but 0.
  AffineParams neg = choose_affine_params(-3.f, -1.f, 4, IntMode::kUnsigned, false);
  EXPECT_EQ(fq({-2.f, 0.f, -0.5f}, neg), (V{0, 0, 0}));
}

TEST(QuantInt, DegenerateRangeGivesZerosNotNaN) {
  for (IntMode mode : {IntMode::kAffine, IntMode::kSigned, IntMode::kUnsigned}) {
    AffineParams p = choose_affine_params(0.f, 0.f, 8, mode, false);
    EXPECT_EQ(p.scale, 1.f);
    EXPECT_EQ(p.zero_point, 0);
    EXPECT_EQ(fq({0.f, 0.f}, p), (V{0, 0}));
  }
  AffineParams narrow = choose_affine_params(0.f, 0.f, 8, IntMode::kAffine, true);
  EXPECT_EQ(narrow.zero_point, 1);
  EXPECT_EQ(fq({0.f}, narrow), (V{0}));
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (auto [lo, hi] : {std::pair{nan, 1.f}, std::pair{-1.f, nan}, std::pair{-inf, 1.f}, std::pair{0.f, inf}}) {
    AffineParams p = choose_affine_params(lo, hi, 8, IntMode::kAffine, false);
    EXPECT_EQ(p.scale, 1.f);
    for (float v : fq({0.f, 0.3f, -7.f}, p)) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(QuantInt, SixteenBitsHoldsFineSteps) {
  AffineParams p = choose_affine_params(-1.f, 1.f, 16, IntMode::kAffine, false);
  EXPECT_EQ(std::abs(p.zero_point - 32767.5), 0.5);  // -lo / S is 32767.5 up to the rounding of S
  EXPECT_EQ(fq({0.f}, p), (V{0}));
  V x = random_floats(1000, 11);
  V y = fq(x, p);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(y[i] - x[i]), 0.51f * p.scale) << x[i];
}

TEST(QuantInt, SteMaskIsTheClosedRepresentableRange) {
  AffineParams p = choose_affine_params(-1.f, 3.f, 8, IntMode::kAffine, false);
  const float lo = p.scale * -64.f, hi = p.scale * 191.f;
  const float inf = std::numeric_limits<float>::infinity();
  V x = {std::nextafter(lo, -inf), lo, 0.f, 1.f, hi, std::nextafter(hi, inf), -100.f, 100.f};
  EXPECT_EQ(fq_grad(x, p, 2.f), (V{0, 2, 2, 2, 2, 0, 0, 0}));
  // Symmetric signed: the edges are S * -128 and S * 127 (not +-max|x|).
  AffineParams s = choose_affine_params(-1.75f, 1.75f, 4, IntMode::kSigned, false);
  EXPECT_EQ(fq_grad({-2.001f, -2.f, -1.75f, 1.75f, 1.7501f}, s), (V{0, 1, 1, 1, 0}));
  // In place (dx aliases dy).
  V d = {3.f, 3.f};
  V xs = {0.f, 9.f};
  fake_quant_backward(xs.data(), d.data(), d.data(), 2, p);
  EXPECT_EQ(d, (V{3, 0}));
}

TEST(QuantInt, WeightsPerTensorUseTheWholeRange) {
  IntQuantizer q = make("int:4:signed", Role::kWeight);
  Tensor w = tensor({2, 3}, {-1.f, 0.f, 1.f, 0.f, 2.f, 3.5f}), y;
  q.forward(w, y, Context{});
  ASSERT_EQ(q.scales()->size(), 1);
  EXPECT_EQ((*q.scales())[0], 0.5f);  // 3.5 / 7
  EXPECT_EQ(q.zero_points(), (std::vector<int32_t>{0}));
  EXPECT_EQ(values(y), (V{-1.f, 0.f, 1.f, 0.f, 2.f, 3.5f}));
  EXPECT_EQ(y.shape(), w.shape());
  EXPECT_TRUE(q.buffers().empty());
}

TEST(QuantInt, WeightsPerChannelUseOneRangePerRow) {
  IntQuantizer q = make("int:4:signed:channel", Role::kWeight);
  Tensor w = tensor({2, 3}, {-1.75f, 0.25f, 0.375f, 0.f, 2.f, 3.5f}), y;
  q.forward(w, y, Context{});
  ASSERT_EQ(q.scales()->size(), 2);
  EXPECT_EQ(values(*q.scales()), (V{0.25f, 0.5f}));  // 1.75 / 7, 3.5 / 7
  EXPECT_EQ(q.zero_points(), (std::vector<int32_t>{0, 0}));
  // Row 0 in steps of 0.25 (0.375 is 1.5 steps: half to even gives 2), row 1 in steps of 0.5.
  EXPECT_EQ(values(y), (V{-1.75f, 0.25f, 0.5f, 0.f, 2.f, 3.5f}));
  // Per tensor the small row loses its detail.
  IntQuantizer t = make("int:4:signed", Role::kWeight);
  Tensor yt;
  t.forward(w, yt, Context{});
  EXPECT_EQ(values(yt), (V{-2.f, 0.f, 0.5f, 0.f, 2.f, 3.5f}));
}

TEST(QuantInt, WeightsAffinePerChannelHasZeroPointsPerRow) {
  IntQuantizer q = make("int:8:channel", Role::kWeight);
  Tensor w = tensor({3, 2}, {-1.f, 3.f, 1.f, 63.75f, 0.f, 0.f}), y, dx;
  q.forward(w, y, Context{});
  EXPECT_EQ(q.zero_points(), (std::vector<int32_t>{64, 0, 0}));
  EXPECT_EQ((*q.scales())[1], 0.25f);
  EXPECT_EQ(q.last_params()[2].scale, 1.f);  // all-zero row
  EXPECT_EQ(y[1], q.last_params()[0].scale * 191.f);
  EXPECT_EQ(y[3], 63.75f);
  EXPECT_EQ(y[4], 0.f);
  EXPECT_EQ(y[5], 0.f);
  Tensor dy({3, 2}, 1.f);
  q.backward(w, dy, dx);
  // Nudging Z from 63.75 up to 64 moves row 0's top end to 191 S < 3, so its max is clipped.
  EXPECT_EQ(values(dx), (V{1, 0, 1, 1, 1, 1}));
}

TEST(QuantInt, ActivationEmaUpdatesThenQuantizes) {
  IntQuantizer q = make("int:8", Role::kActivation);
  Context train{.training = true}, eval{};
  Tensor y;
  q.forward(tensor({3}, {-1.f, 0.5f, 2.f}), y, train);  // first batch sets the EMA
  auto buf = q.buffers();
  ASSERT_EQ(buf.size(), 3u);
  EXPECT_EQ(buf[0].first, "ema_min"); EXPECT_EQ(buf[1].first, "ema_max"); EXPECT_EQ(buf[2].first, "ema_init");
  EXPECT_EQ((*buf[0].second)[0], -1.f);
  EXPECT_EQ((*buf[1].second)[0], 2.f);
  EXPECT_EQ((*buf[2].second)[0], 1.f);

  auto ema = [](float avg, float batch) {
    return IntQuantizer::kEmaDecay * avg + (1.f - IntQuantizer::kEmaDecay) * batch;
  };
  Tensor x2 = tensor({2, 2}, {-3.f, 1.f, 0.f, 0.5f});
  q.forward(x2, y, train);
  float mn = ema(-1.f, -3.f), mx = ema(2.f, 1.f);  // -1.02, 1.99
  EXPECT_FLOAT_EQ((*buf[0].second)[0], mn);
  EXPECT_FLOAT_EQ((*buf[1].second)[0], mx);
  // This batch is quantized with the EMA that already includes it.
  AffineParams p2 = choose_affine_params((*buf[0].second)[0], (*buf[1].second)[0], 8, IntMode::kAffine, false);
  EXPECT_EQ((*q.scales())[0], p2.scale);
  EXPECT_EQ(values(y), fq(values(x2), p2));
  EXPECT_EQ(y[0], p2.scale * static_cast<float>(0 - p2.zero_point));  // -3 clips to the EMA range

  Tensor x3 = tensor({2}, {0.f, 10.f});
  q.forward(x3, y, train);
  mn = ema(mn, 0.f);  // -1.0098
  mx = ema(mx, 10.f);  // 2.0701
  EXPECT_FLOAT_EQ((*buf[0].second)[0], mn);
  EXPECT_FLOAT_EQ((*buf[1].second)[0], mx);

  // Evaluation reads the EMA and leaves it alone.
  const float emin = (*buf[0].second)[0], emax = (*buf[1].second)[0];
  Tensor big = tensor({3}, {-100.f, 0.7f, 100.f});
  q.forward(big, y, eval);
  EXPECT_EQ((*buf[0].second)[0], emin);
  EXPECT_EQ((*buf[1].second)[0], emax);
  AffineParams pe = choose_affine_params(emin, emax, 8, IntMode::kAffine, false);
  EXPECT_EQ(values(y), fq(values(big), pe));
  Tensor dy({3}, 1.f), dx;
  q.backward(big, dy, dx);
  EXPECT_EQ(values(dx), (V{0, 1, 0}));
}

TEST(QuantInt, ActivationEvalBeforeTrainingUsesTheBatch) {
  IntQuantizer q = make("int:4:unsigned", Role::kActivation);
  Tensor x = tensor({3}, {-1.f, 1.f, 3.75f}), y;
  q.forward(x, y, Context{});
  EXPECT_EQ((*q.scales())[0], 0.25f);
  EXPECT_EQ(values(y), (V{0.f, 1.f, 3.75f}));
  EXPECT_EQ((*q.buffers()[2].second)[0], 0.f);  // still untrained
  // An empty training batch does not touch the EMA.
  Tensor empty(Shape{0, 3});
  q.forward(empty, y, Context{.training = true});
  EXPECT_EQ(y.size(), 0);
  EXPECT_EQ((*q.buffers()[2].second)[0], 0.f);
}

TEST(QuantInt, BuffersRoundTripThroughACheckpoint) {
  IntQuantizer a = make("int:6:signed:narrow", Role::kActivation);
  Tensor y;
  for (int step = 0; step < 3; ++step) {
    auto x = random_floats(50, 100 + step, -2.f + step, 1.5f);
    a.forward(tensor({50}, x), y, Context{.training = true});
  }
  IntQuantizer b = make("int:6:signed:narrow", Role::kActivation);
  auto from = a.buffers(), to = b.buffers();
  ASSERT_EQ(from.size(), to.size());
  for (size_t i = 0; i < from.size(); ++i) {
    ASSERT_EQ(from[i].first, to[i].first);
    *to[i].second = *from[i].second;
  }
  Tensor x = tensor({20}, random_floats(20, 7, -3.f, 3.f)), ya, yb;
  a.forward(x, ya, Context{});
  b.forward(x, yb, Context{});
  EXPECT_EQ(values(ya), values(yb));
  EXPECT_EQ(values(*a.scales()), values(*b.scales()));
}

TEST(QuantInt, BadConstructionsNameTheFlag) {
  expect_error_naming([] { make("int:8:unsigned:narrow", Role::kWeight); }, "'narrow' cannot be combined with 'unsigned'");
  expect_error_naming([] { make("int:8:unsigned:narrow", Role::kActivation); }, "int:8:unsigned:narrow");
  expect_error_naming([] { make("int:8:channel", Role::kActivation); }, "'channel'");
  expect_error_naming([] { make("int:8:channel", Role::kActivation); }, "weights only");
  expect_error_naming([] { make("dorefa:2", Role::kWeight); }, "int:k");
  EXPECT_NO_THROW(make("int:8:signed:channel", Role::kWeight));
  EXPECT_NO_THROW(make("int:2:narrow", Role::kActivation));
}

// The class against the scalar reference, including sizes that take the threaded path.
void expect_matches_reference(const std::string& spec, Shape shape, uint64_t seed) {
  SCOPED_TRACE(spec + " " + shape_str(shape));
  QuantSpec s = parse_quant_spec(spec);
  IntQuantizer q(s, Role::kWeight);
  const int64_t n = shape_numel(shape);
  Tensor x = tensor(shape, random_floats(n, seed, -0.7f, 1.3f)), y, dx;
  Tensor dy = tensor(shape, random_floats(n, seed + 1));
  q.forward(x, y, Context{});
  q.backward(x, dy, dx);
  const bool channel = s.granularity == Granularity::kChannel;
  const int64_t groups = channel ? shape[0] : 1, len = n / groups;
  V want_y(static_cast<size_t>(n)), want_dx(static_cast<size_t>(n));
  for (int64_t g = 0; g < groups; ++g) {
    const float* xg = x.data() + g * len;
    float lo, hi;
    affine_min_max(xg, len, lo, hi);
    AffineParams p = choose_affine_params(lo, hi, s.bits, s.int_mode, s.narrow);
    EXPECT_EQ((*q.scales())[g], p.scale);
    EXPECT_EQ(q.zero_points()[static_cast<size_t>(g)], p.zero_point);
    fake_quant_forward(xg, want_y.data() + g * len, len, p);
    fake_quant_backward(xg, dy.data() + g * len, want_dx.data() + g * len, len, p);
  }
  EXPECT_EQ(values(y), want_y);
  EXPECT_EQ(values(dx), want_dx);
}

TEST(QuantInt, ClassMatchesScalarReference) {
  uint64_t seed = 1;
  for (const char* spec : {"int:8", "int:3:narrow", "int:5:signed", "int:4:signed:narrow", "int:7:unsigned",
                           "int:8:channel", "int:2:signed:channel", "int:16:narrow:channel"}) {
    expect_matches_reference(spec, {1}, seed++);
    expect_matches_reference(spec, {7, 1}, seed++);
    expect_matches_reference(spec, {8, 125}, seed++);
    expect_matches_reference(spec, {16, 2500}, seed++);  // 40000 elements: threaded
    expect_matches_reference(spec, {3, 40001}, seed++);  // few channels, many elements each
  }
}

TEST(QuantInt, ActivationClassMatchesReferenceOnLargeBatch) {
  IntQuantizer q = make("int:8", Role::kActivation);
  Tensor x = tensor({40000}, random_floats(40000, 3, -2.f, 5.f)), y;
  q.forward(x, y, Context{.training = true});
  float lo, hi;
  affine_min_max(x.data(), x.size(), lo, hi);
  EXPECT_EQ(values(y), fq(values(x), choose_affine_params(lo, hi, 8, IntMode::kAffine, false)));
}

}  // namespace
}  // namespace lowbit::quant

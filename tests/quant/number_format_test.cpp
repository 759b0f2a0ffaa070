// Number formats of low-precision training (issue 16): hand-computed values for every
// format and rounding, IEEE binary16 agreement, spec parsing and its errors, stochastic
// rounding's statistics and reproducibility over thread counts.
#include "lowbit/quant/number_format.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "lowbit/core/bfloat16.hpp"
#include "lowbit/core/error.hpp"
#include "lowbit/core/fp_env.hpp"
#include "lowbit/core/rng.hpp"
#include "test_util.hpp"

namespace lowbit::quant {
namespace {

std::vector<float> rounded(std::vector<float> x, const std::string& spec, Rounding r = Rounding::kNearestEven,
                           uint64_t step = 0) {
  enter_fp_contract();
  Tensor t({static_cast<int64_t>(x.size())});
  std::memcpy(t.data(), x.data(), x.size() * sizeof(float));
  round_tensor(t, parse_number_format(spec), r, {7, step, "test"});
  return std::vector<float>(t.data(), t.data() + t.size());
}

// The hand values: fixed 8,4 under nearest-even.
TEST(NumberFormat, Fixed84NearestEvenHandValues) {
  EXPECT_EQ(rounded({0.15625f, 0.03125f, 0.3f, 8.0f, -8.03f}, "fixed:8,4"),
            (std::vector<float>{0.125f, 0.f, 0.3125f, 7.9375f, -8.f}));
  // Symmetric drops -128; noclamp keeps any code.
  EXPECT_EQ(rounded({-8.03f, 100.f}, "fixed:8,4:symmetric"), (std::vector<float>{-7.9375f, 7.9375f}));
  EXPECT_EQ(rounded({-8.03f, 100.03f}, "fixed:8,4:noclamp"), (std::vector<float>{-8.0f, 100.0f}));
  // Without clamping, x * 2^FL may overflow: such x lie on the grid already (review finding).
  EXPECT_EQ(rounded({4.f, -3e38f, 0x1.0p-125f, 0x1.8p-126f}, "fixed:8,126:noclamp"),
            (std::vector<float>{4.f, -3e38f, 0x1.0p-125f, 0x1.0p-125f}));  // the last: a tie, to even
}

TEST(NumberFormat, EveryRoundingOnTiesAndTails) {
  // fixed:8,1: step 0.5. Inputs in steps: 0.25 -> r = 0.5 (tie), 0.75 -> 1.5, -0.25 -> -0.5,
  // -0.75 -> -1.5, 0.3 -> 0.6, -0.3 -> -0.6.
  const std::vector<float> x = {0.25f, 0.75f, -0.25f, -0.75f, 0.3f, -0.3f};
  EXPECT_EQ(rounded(x, "fixed:8,1", Rounding::kNearestEven), (std::vector<float>{0.f, 1.f, 0.f, -1.f, 0.5f, -0.5f}));
  EXPECT_EQ(rounded(x, "fixed:8,1", Rounding::kNearestUp), (std::vector<float>{0.5f, 1.f, 0.f, -0.5f, 0.5f, -0.5f}));
  EXPECT_EQ(rounded(x, "fixed:8,1", Rounding::kNearestAway), (std::vector<float>{0.5f, 1.f, -0.5f, -1.f, 0.5f, -0.5f}));
  EXPECT_EQ(rounded(x, "fixed:8,1", Rounding::kTowardZero), (std::vector<float>{0.f, 0.5f, 0.f, -0.5f, 0.f, 0.f}));
  // A rounding after '@' beats the caller's.
  EXPECT_EQ(rounded(x, "fixed:8,1@toward-zero", Rounding::kNearestEven),
            (std::vector<float>{0.f, 0.5f, 0.f, -0.5f, 0.f, 0.f}));
}

// float:5,2: 1.125 lies halfway between 1.0 (mantissa 00) and 1.25 (01); 1.375 between 1.25
// and 1.5 (10). The 1.125 -> 1.25, 1.375 -> 1.5 is ties-away (QPyTorch's "nearest"
// adds half an ulp to the magnitude); ties-to-even gives 1.0 and 1.5.
TEST(NumberFormat, Float52HandValues) {
  EXPECT_EQ(rounded({1.125f, 1.375f, -1.125f}, "float:5,2", Rounding::kNearestAway),
            (std::vector<float>{1.25f, 1.5f, -1.25f}));
  EXPECT_EQ(rounded({1.125f, 1.375f, -1.125f}, "float:5,2", Rounding::kNearestEven),
            (std::vector<float>{1.f, 1.5f, -1.f}));
  // Range: max (2 - 2^-2) 2^15 = 57344; saturating by default, inf with :ieee, and the
  // extended range uses exponent 16: max 1.75 * 2^16.
  EXPECT_EQ(rounded({1e6f, -1e6f}, "float:5,2"), (std::vector<float>{57344.f, -57344.f}));
  EXPECT_EQ(rounded({1e6f, 61440.f, 61439.f}, "float:5,2:ieee"),
            (std::vector<float>{HUGE_VALF, HUGE_VALF, 57344.f}));  // 61440 = max + half an ulp: ties to inf
  EXPECT_EQ(rounded({1e6f, 65536.f}, "float:5,2:ext"), (std::vector<float>{114688.f, 65536.f}));
  // Subnormals: emin = -14, the step below 2^-14 is 2^-16.
  EXPECT_EQ(rounded({0x1.0p-16f, 0x1.8p-16f, 0x1.0p-18f, 0x1.4p-17f}, "float:5,2"),
            (std::vector<float>{0x1.0p-16f, 0x1.0p-15f, 0.f, 0x1.0p-16f}));
  // NaN stays NaN; inf saturates.
  const std::vector<float> special = rounded({NAN, HUGE_VALF, -HUGE_VALF}, "float:5,2");
  EXPECT_TRUE(std::isnan(special[0]));
  EXPECT_EQ(special[1], 57344.f);
  EXPECT_EQ(special[2], -57344.f);
}

// float:5,10:ieee with nearest-even is IEEE binary16: every half value, every midpoint
// between neighbours, and random floats, against the compiler's float -> _Float16.
TEST(NumberFormat, Float510IsIeeeHalfIncludingSubnormals) {
  std::vector<float> x;
  for (uint32_t h = 0; h < 0x7C00; ++h) {  // every finite non-negative half
    _Float16 v;
    const uint16_t bits = static_cast<uint16_t>(h);
    std::memcpy(&v, &bits, 2);
    const float f = static_cast<float>(v);
    x.push_back(f);
    x.push_back(-f);
    const uint16_t next_bits = static_cast<uint16_t>(h + 1);
    _Float16 n;
    std::memcpy(&n, &next_bits, 2);
    const float mid = (f + static_cast<float>(n)) * 0.5f;  // exact: both have <= 11 significant bits
    x.push_back(mid);
    x.push_back(-mid);
  }
  Rng rng(3);
  for (int i = 0; i < 100000; ++i) x.push_back(std::ldexp(rng.uniform(-1.f, 1.f), static_cast<int>(rng.below(44)) - 28));
  const std::vector<float> ieee = rounded(x, "float:5,10:ieee");
  const std::vector<float> saturating = rounded(x, "fp16");
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = static_cast<float>(static_cast<_Float16>(x[i]));
    ASSERT_EQ(ieee[i], want) << "x = " << x[i];
    // The default saturates where IEEE overflows, and agrees everywhere else.
    ASSERT_EQ(saturating[i], std::isinf(want) ? std::copysign(65504.f, want) : want) << "x = " << x[i];
  }
}

// bfloat16 = float:8,7: core/bfloat16.hpp's round_to_bfloat16 (nearest-even) on normal floats
// and on ties.
TEST(NumberFormat, Bf16IsFloat87) {
  Rng rng(4);
  std::vector<float> x;
  for (int i = 0; i < 10000; ++i) x.push_back(std::ldexp(rng.uniform(-1.f, 1.f), static_cast<int>(rng.below(200)) - 100));
  // Ties: halfway between two bfloat16 values, with an even and an odd lower neighbour.
  x.push_back(1.f + 0x1.0p-8f);              // 1 (even) or 1 + 2^-7: to 1
  x.push_back(1.f + 3 * 0x1.0p-8f);          // 1 + 2^-7 (odd) or 1 + 2^-6: to 1 + 2^-6
  x.push_back(-(1.f + 3 * 0x1.0p-8f));
  const std::vector<float> a = rounded(x, "bf16"), b = rounded(x, "float:8,7");
  EXPECT_EQ(a, b);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(a[i], round_to_bfloat16(x[i])) << x[i];
  EXPECT_EQ(a[a.size() - 3], 1.f);
  EXPECT_EQ(a[a.size() - 2], 1.f + 0x1.0p-6f);
}

// The block: one exponent from max|x| = 1.999 (e = 0), step 2^-6, mantissas in
// [-127, 127]. 0.0078125 and -0.0078125 are ties (r = +-0.5): the expected [..., 0.015625, 0]
// is ties toward +inf, our "nearest-up" (floor(r + 1/2)).
TEST(NumberFormat, Bfp8BlockHandValues) {
  const std::vector<float> x = {1.999f, 0.3f, -0.7f, 0.0078125f, -0.0078125f, -0.00390625f, 1.0f};
  EXPECT_EQ(rounded(x, "bfp:8", Rounding::kNearestUp),
            (std::vector<float>{1.984375f, 0.296875f, -0.703125f, 0.015625f, 0.f, 0.f, 1.f}));
  EXPECT_EQ(rounded(x, "bfp:8", Rounding::kNearestEven),
            (std::vector<float>{1.984375f, 0.296875f, -0.703125f, 0.f, 0.f, 0.f, 1.f}));
  // An all-zero block stays zero; NaN stays NaN.
  EXPECT_EQ(rounded({0.f, -0.f}, "bfp:8"), (std::vector<float>{0.f, 0.f}));
  EXPECT_TRUE(std::isnan(rounded({1.f, NAN}, "bfp:8")[1]));
}

// bfp:WL,AXIS: one exponent per index along the axis.
TEST(NumberFormat, BfpPerAxisBlocks) {
  enter_fp_contract();
  Tensor t({2, 2, 2});  // axis 1 blocks: {x[0,0,:], x[1,0,:]} and {x[0,1,:], x[1,1,:]}
  const float v[8] = {4.f, 0.1f, 0.3f, 0.1f, 1.f, 0.f, 0.f, 0.f};
  std::memcpy(t.data(), v, sizeof v);
  Tensor whole = t;
  round_tensor(t, parse_number_format("bfp:4,1"), Rounding::kNearestEven, {1, 0, "t"});
  // Block a=0 holds 4, 0.1, 1, 0: e = 2, step 2^(2-4+2) = 1 -> 0.1 -> 0. Block a=1 holds
  // 0.3, 0.1, 0, 0: e = -2, step 2^-4 -> 0.3 -> 0.3125, 0.1 -> 0.125.
  EXPECT_EQ(std::vector<float>(t.data(), t.data() + 8),
            (std::vector<float>{4.f, 0.f, 0.3125f, 0.125f, 1.f, 0.f, 0.f, 0.f}));
  round_tensor(whole, parse_number_format("bfp:4"), Rounding::kNearestEven, {1, 0, "t"});
  EXPECT_EQ(whole[2], 0.f);  // one block for the tensor: step 1
  // A tensor without dimension AXIS (a bias under bfp:4,1) is one block: max 4, step 1.
  Tensor bias({3}, 0.f);
  bias[0] = 4.f, bias[1] = 0.3f, bias[2] = 1.4f;
  round_tensor(bias, parse_number_format("bfp:4,1"), Rounding::kNearestEven, {1, 0, "t"});
  EXPECT_EQ(std::vector<float>(bias.data(), bias.data() + 3), (std::vector<float>{4.f, 0.f, 1.f}));
}

// Only the two neighbours occur, and the mean is x within 5 standard errors: fixed 8,4 at
// x = 0.3 rounds to 0.3125 with probability 0.8.
TEST(NumberFormat, StochasticRoundingIsUnbiased) {
  const int64_t n = 1000000;
  const std::vector<float> y = rounded(std::vector<float>(static_cast<size_t>(n), 0.3f), "fixed:8,4",
                                       Rounding::kStochastic);
  int64_t ups = 0;
  for (float v : y) {
    ASSERT_TRUE(v == 0.25f || v == 0.3125f) << v;
    ups += v == 0.3125f;
  }
  const double p = static_cast<double>(ups) / static_cast<double>(n);
  const double p_want = (0.3f * 16.f - 4.f);  // r - floor(r) in float: 0.8000002
  EXPECT_NEAR(p, p_want, 5 * std::sqrt(p_want * (1 - p_want) / static_cast<double>(n)));
  // And on a minifloat and a block: the mean of 10^5 draws of 1.1 in float:5,2 (1.0 or 1.25).
  const std::vector<float> z =
      rounded(std::vector<float>(100000, 1.1f), "float:5,2", Rounding::kStochastic);
  double sum = 0;
  for (float v : z) {
    ASSERT_TRUE(v == 1.f || v == 1.25f);
    sum += v;
  }
  const double se = 0.25 * std::sqrt(0.4 * 0.6 / 100000.0);
  EXPECT_NEAR(sum / 100000.0, 1.1, 5 * se);
}

// Same (seed, step, site) -> same bits on 1 and 2 threads; another step -> other bits.
TEST(NumberFormat, StochasticRoundingIsReproducibleOverThreads) {
  Rng rng(9);
  std::vector<float> x(300000);
  for (float& v : x) v = rng.uniform(-3.f, 3.f);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<float> one = rounded(x, "bfp:6", Rounding::kStochastic, 5);
  omp_set_num_threads(2);
  const std::vector<float> two = rounded(x, "bfp:6", Rounding::kStochastic, 5);
  const std::vector<float> other_step = rounded(x, "bfp:6", Rounding::kStochastic, 6);
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
  EXPECT_NE(one, other_step);
}

TEST(NumberFormat, SpecsParseAndPrintBack) {
  for (const char* s : {"fixed:8,6", "fixed:16,-3:symmetric", "fixed:4,2:noclamp", "float:5,2", "float:8,7",
                        "float:4,3:ieee", "float:5,10:ext", "bfp:8", "bfp:8,0@stochastic", "float32",
                        "fixed:8,4@nearest-up"})
    EXPECT_EQ(parse_number_format(s).str(), s);
  EXPECT_EQ(parse_number_format("bf16").str(), "float:8,7");
  EXPECT_EQ(parse_number_format("fp16").str(), "float:5,10");
  EXPECT_EQ(parse_number_format("fixed:8,4@nearest").rounding, Rounding::kNearestEven);
}

// Malformed specs are errors that name the spec and list the valid forms.
TEST(NumberFormat, MalformedSpecsListTheValidForms) {
  for (const char* s : {"fixed:0,0", "float:9,30", "bfp:1", "fixed:8", "fixed:8,4:wide", "float:8,7:ext", "bfp:8,x",
                        "fixed:25,4", "float:5,2:ieee:ext", "int:8", "", "bfp:8@sometimes", "float32@stochastic",
                        "fixed:8,4,2", "fixed: 8,4"}) {
    SCOPED_TRACE(s);
    testing::expect_error_naming([&] { parse_number_format(s); }, "valid forms: fixed:WL,FL");
    testing::expect_error_naming([&] { parse_number_format(s); }, cat("'", s, "'"));
  }
  testing::expect_error_naming([] { parse_rounding("up"); }, "nearest, nearest-even, nearest-up");
}

}  // namespace
}  // namespace lowbit::quant

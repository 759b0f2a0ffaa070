#include "lowbit/core/bfloat16.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace lowbit {
namespace {

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Hand-computed: bfloat16 keeps 8 significant bits, so the step above 1 is 2^-7.
TEST(Bfloat16, RoundsToNearestWithTiesToEven) {
  EXPECT_EQ(round_to_bfloat16(1.f), 1.f);
  EXPECT_EQ(round_to_bfloat16(1.f + 0x1p-8f), 1.f);                       // tie: 1 is even
  EXPECT_EQ(round_to_bfloat16(1.f + 3 * 0x1p-8f), 1.f + 0x1p-6f);         // tie: 1 + 2^-7 is odd
  EXPECT_EQ(round_to_bfloat16(1.f + 0x1p-8f + 0x1p-20f), 1.f + 0x1p-7f);  // just above the tie
  EXPECT_EQ(round_to_bfloat16(-0.1f), -0.10009765625f);
  EXPECT_EQ(round_to_bfloat16(3.14159265f), 3.140625f);
  EXPECT_EQ(round_to_bfloat16(257.f), 256.f);
  EXPECT_EQ(round_to_bfloat16(259.f), 260.f);
  EXPECT_EQ(bits(round_to_bfloat16(-0.f)), 0x80000000u);
}

TEST(Bfloat16, OverflowInfinityNanAndSubnormals) {
  const float max = std::numeric_limits<float>::max();
  EXPECT_EQ(round_to_bfloat16(max), std::numeric_limits<float>::infinity());  // above bf16's largest, 0x7f7f
  EXPECT_EQ(bits(round_to_bfloat16(from_bits(0x7f7f7fffu))), 0x7f7f0000u);    // just below the tie: stays finite
  EXPECT_EQ(round_to_bfloat16(-std::numeric_limits<float>::infinity()), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(round_to_bfloat16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_to_bfloat16(from_bits(0x7f80ffffu))));  // signalling NaN whose payload is all low bits
  EXPECT_TRUE(std::isnan(round_to_bfloat16(from_bits(0xffffffffu))));
  EXPECT_EQ(bits(round_to_bfloat16(from_bits(0x00018000u))), 0x00020000u);  // subnormal tie, to even
  EXPECT_EQ(bits(round_to_bfloat16(from_bits(0x00008000u))), 0x00000000u);  // smallest tie goes to zero (even)
}

// Every result is a bfloat16 (low half zero) and the nearer of the two bfloat16 values around
// x, the even one on a tie: checked on a stride through all normal float32 bit patterns
// (the distances are float arithmetic, which the tests' FP environment flushes to zero on
// subnormals; the hand-computed cases above cover those).
TEST(Bfloat16, SweepIsNearestAndRepresentable) {
  for (uint64_t u = 0x00800000u; u < 0x7f800000u; u += 0x1235) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      const float x = from_bits(static_cast<uint32_t>(u) | sign);
      const float r = round_to_bfloat16(x);
      ASSERT_EQ(bits(r) & 0xffffu, 0u) << u;
      const uint32_t low = (static_cast<uint32_t>(u) & 0xffff0000u) | sign;
      const float down = from_bits(low), up = from_bits(low + 0x10000u);
      // Above bf16's largest finite value, "up" is infinity and rounds as if it were 2^128.
      const double up_value = std::isinf(up) ? std::copysign(std::ldexp(1.0, 128), up) : up;
      const double dd = std::fabs(static_cast<double>(x) - down), du = std::fabs(up_value - x);
      const float want = dd < du ? down : du < dd ? up : ((low >> 16) & 1u) ? up : down;
      ASSERT_EQ(bits(r), bits(want)) << std::hexfloat << x;
    }
  }
}

}  // namespace
}  // namespace lowbit

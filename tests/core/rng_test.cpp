#include "lowbit/core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace lowbit {
namespace {

TEST(Rng, SameSeedSameStreamDifferentSeedDifferent) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    (void)c;
  }
  EXPECT_NE(Rng(42).next_u64(), Rng(43).next_u64());
  EXPECT_NE(Rng(42, 0).next_u64(), Rng(42, 1).next_u64());
}

TEST(Rng, StateRoundTrip) {
  Rng a(5);
  for (int i = 0; i < 10; ++i) a.next_u64();
  Rng b(0);
  b.set_state(a.state());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next_u64(), b.next_u64());
}

TEST(Rng, UniformAndNormalMoments) {
  Rng r(1);
  const int n = 200000;
  double s = 0, s2 = 0, ns = 0, ns2 = 0;
  for (int i = 0; i < n; ++i) {
    float u = r.uniform();
    ASSERT_GE(u, 0.f);
    ASSERT_LT(u, 1.f);
    s += u;
    s2 += u * u;
    float z = r.normal();
    ns += z;
    ns2 += z * z;
  }
  // Means within ~5 standard errors.
  EXPECT_NEAR(s / n, 0.5, 5 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(s2 / n - (s / n) * (s / n), 1.0 / 12, 0.002);
  EXPECT_NEAR(ns / n, 0.0, 5 / std::sqrt(n));
  EXPECT_NEAR(ns2 / n, 1.0, 0.02);
}

TEST(Rng, BelowIsUnbiasedAndInRange) {
  Rng r(9);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    uint64_t v = r.below(7);
    ASSERT_LT(v, 7u);
    counts[v]++;
  }
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, 5 * std::sqrt(n / 7.0));
  EXPECT_EQ(r.below(1), 0u);
}

}  // namespace
}  // namespace lowbit

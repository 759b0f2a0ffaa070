// The XNOR-popcount GEMM against its scalar twin and against a float GEMM of the same +-1
// matrices, on random and edge-case shapes (K not a multiple of 64, 1x1, odd sizes,
// batch 1), plus the bit packers.
#include "lowbit/kernels/xnor_gemm.hpp"

#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <vector>

#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/gemm.hpp"
#include "lowbit/nn/dense.hpp"

namespace lowbit::kernels {
namespace {

std::vector<float> random_signs(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = rng.uniform() < 0.5f ? -1.f : 1.f;
  return v;
}

void check_shapes();

// Every SIMD target compiled in and supported by this CPU (AVX-512, AVX2, SSE4, scalar...),
// not just the one dispatch would pick.
TEST(XnorGemm, MatchesScalarTwinAndFloatGemmOnEveryTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    SCOPED_TRACE(hwy::TargetName(target));
    hwy::SetSupportedTargetsForTest(target);
    check_shapes();
  }
  hwy::SetSupportedTargetsForTest(0);  // back to the CPU's own targets
}

void check_shapes() {
  struct S { int64_t m, n, k; };
  for (S s : {S{1, 1, 1}, S{1, 1, 64}, S{1, 3, 63}, S{2, 5, 65}, S{7, 9, 130}, S{1, 17, 1000}, S{33, 31, 1024},
              S{100, 70, 784}, S{64, 128, 4097}}) {
    SCOPED_TRACE(::testing::Message() << s.m << "x" << s.n << "x" << s.k);
    auto x = random_signs(s.m * s.k, 1 + s.k), w = random_signs(s.n * s.k, 2 + s.n);
    const int64_t words = packed_words(s.k);
    std::vector<uint64_t> a(static_cast<size_t>(s.m * words)), bt(static_cast<size_t>(s.n * words));
    ASSERT_TRUE(pack_rows_pm1(x.data(), s.m, s.k, a.data()));
    ASSERT_TRUE(pack_cols_pm1(w.data(), s.n, s.k, bt.data()));
    std::vector<float> fast(static_cast<size_t>(s.m * s.n), -7.f), ref(fast), dense(fast);
    xnor_gemm(s.m, s.n, s.k, a.data(), bt.data(), fast.data(), s.n);
    xnor_gemm_ref(s.m, s.n, s.k, a.data(), bt.data(), ref.data(), s.n);
    gemm_ref(Trans::No, Trans::Yes, s.m, s.n, s.k, 1.f, x.data(), s.k, w.data(), s.k, 0.f, dense.data(), s.n);
    EXPECT_EQ(fast, ref);
    EXPECT_EQ(fast, dense);  // exact integers either way
  }
}

TEST(XnorGemm, WritesOnlyItsColumnsOfC) {
  auto x = random_signs(3 * 70, 5), w = random_signs(4 * 70, 6);
  std::vector<uint64_t> a(3 * 2), bt(4 * 2);
  ASSERT_TRUE(pack_rows_pm1(x.data(), 3, 70, a.data()));
  ASSERT_TRUE(pack_cols_pm1(w.data(), 4, 70, bt.data()));
  std::vector<float> c(3 * 6, 99.f);  // ldc 6 > n 4
  xnor_gemm(3, 4, 70, a.data(), bt.data(), c.data(), 6);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c[i * 6 + 4], 99.f);
    EXPECT_EQ(c[i * 6 + 5], 99.f);
  }
}

TEST(XnorGemm, PackingFollowsTheBitConventionAndRejectsNonSigns) {
  std::vector<float> x = {1.f, -1.f, -1.f, 1.f, 1.f};
  uint64_t a = 0;
  ASSERT_TRUE(pack_rows_pm1(x.data(), 1, 5, &a));
  EXPECT_EQ(a, 0b11001u);  // bit 1 = +1; bits beyond k are 0
  x[2] = 0.f;  // sign(0) = +1 would be a real-valued input: not packable exactly
  EXPECT_FALSE(pack_rows_pm1(x.data(), 1, 5, &a));
  x[2] = 0.5f;
  EXPECT_FALSE(pack_cols_pm1(x.data(), 1, 5, &a));
  EXPECT_NE(std::string(xnor_gemm_target()), "none");
}

TEST(XnorGemm, BinaryDenseGivesTheSameOutputWithAndWithoutIt) {
  nn::Dense d(130, 37, true, {}, nn::QuantConfig{"binary", "binary"});
  Rng rng(3);
  d.init(rng);
  for (int64_t j = 0; j < 37; ++j) d.bias()->value[j] = 0.1f * static_cast<float>(j);
  Tensor x({5, 130});
  for (float& v : x) v = rng.uniform(-2.f, 2.f);
  Tensor fast, slow;
  Context ctx{true, &rng};
  d.forward(x, fast, ctx);
  set_binary_kernels_enabled(false);
  d.forward(x, slow, ctx);
  set_binary_kernels_enabled(true);
  ASSERT_EQ(fast.shape(), slow.shape());
  for (int64_t i = 0; i < fast.size(); ++i) ASSERT_EQ(fast[i], slow[i]) << i;
}

}  // namespace
}  // namespace lowbit::kernels

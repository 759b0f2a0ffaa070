#include "lowbit/kernels/gemm.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lowbit/core/bfloat16.hpp"
#include "lowbit/core/parallel.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/core/threading.hpp"

namespace lowbit::kernels {
namespace {


// Runs the test body once per GEMM library and restores the default afterwards.
class GemmOnBackend : public ::testing::TestWithParam<GemmBackend> {
 protected:
  void SetUp() override { set_gemm_backend(GetParam()); }
  void TearDown() override { set_gemm_backend(GemmBackend::kOneDnn); }
};

INSTANTIATE_TEST_SUITE_P(Libraries, GemmOnBackend, ::testing::Values(GemmBackend::kOneDnn, GemmBackend::kOpenBlas),
                         [](const auto& info) { return std::string(gemm_backend_name(info.param)); });

TEST(Gemm, OneDnnIsTheDefaultAndNamesParse) {
  EXPECT_EQ(gemm_backend(), GemmBackend::kOneDnn);
  EXPECT_EQ(parse_gemm_backend("openblas"), GemmBackend::kOpenBlas);
  EXPECT_EQ(parse_gemm_backend(gemm_backend_name(GemmBackend::kOneDnn)), GemmBackend::kOneDnn);
  lowbit::testing::expect_error_naming([] { parse_gemm_backend("mkl"); }, "unknown GEMM library 'mkl'");
}

// Bad shapes are refused before either library sees them (oneDNN returned an error status,
// OpenBLAS printed "illegal value" and left C untouched).
TEST_P(GemmOnBackend, RefusesNegativeSizesAndShortStrides) {
  std::vector<float> A(64, 1.f), B(64, 1.f), C(64, 0.f);
  lowbit::testing::expect_error_naming(
      [&] { gemm(Trans::No, Trans::No, -1, 2, 2, 1.f, A.data(), 2, B.data(), 2, 0.f, C.data(), 2); }, "negative size");
  lowbit::testing::expect_error_naming(
      [&] { gemm(Trans::No, Trans::No, 2, 2, 4, 1.f, A.data(), 3, B.data(), 2, 0.f, C.data(), 2); }, "lda=3 for 4");
  lowbit::testing::expect_error_naming(
      [&] { gemm(Trans::No, Trans::Yes, 2, 3, 4, 1.f, A.data(), 4, B.data(), 3, 0.f, C.data(), 3); }, "ldb=3 for 4");
  lowbit::testing::expect_error_naming(
      [&] { gemm(Trans::Yes, Trans::No, 2, 3, 4, 1.f, A.data(), 2, B.data(), 3, 0.f, C.data(), 2); }, "ldc=2 for 3");
}

// gemm (oneDNN or OpenBLAS) against its scalar twin, for every transpose combination, tails
// and degenerate sizes, with alpha/beta and padded leading dimensions.
TEST_P(GemmOnBackend, MatchesReferenceOnEdgeShapes) {
  const int64_t sizes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 4, 1}, {17, 33, 65}, {64, 64, 64}, {100, 10, 1024}, {2, 3, 0}};
  for (auto& s : sizes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
        auto A = lowbit::testing::random_floats(static_cast<size_t>((ta ? K : M) * lda + 1), 1);
        auto B = lowbit::testing::random_floats(static_cast<size_t>((tb ? N : K) * ldb + 1), 2);
        auto C0 = lowbit::testing::random_floats(static_cast<size_t>(M * ldc), 3);
        auto C1 = C0;
        gemm(Trans(ta), Trans(tb), M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.f, C0.data(), ldc);
        gemm_ref(Trans(ta), Trans(tb), M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.f, C1.data(), ldc);
        for (size_t i = 0; i < C0.size(); ++i)
          ASSERT_NEAR(C0[i], C1[i], 1e-4 * (1 + std::sqrt(static_cast<double>(K))))
              << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " i=" << i;
      }
    }
  }
}

TEST_P(GemmOnBackend, BetaZeroIgnoresGarbageInC) {
  std::vector<float> A = {1, 2}, B = {3, 4}, C = {NAN};
  gemm(Trans::No, Trans::No, 1, 1, 2, 1.f, A.data(), 2, B.data(), 1, 0.f, C.data(), 1);
  EXPECT_FLOAT_EQ(C[0], 11.f);
}

// op(A) B (A: M x K, row stride K; B with row stride ldb) from inside a parallel region, as
// conv2d calls gemm per image: each member of a team of at least 2 multiplies its own rows.
std::vector<float> product_by_team(Trans tb, int64_t M, int64_t N, int64_t K, const std::vector<float>& A,
                                   const std::vector<float>& B, int64_t ldb) {
  std::vector<float> out(static_cast<size_t>(M * N));
  parallel_team(std::max(2, num_threads()), [&](int tid, int size) {
    const int64_t per = (M + size - 1) / size, r0 = std::min(M, tid * per), r1 = std::min(M, r0 + per);
    gemm(Trans::No, tb, r1 - r0, N, K, 1.f, A.data() + r0 * K, K, B.data(), ldb, 0.f, out.data() + r0 * N, N);
  });
  return out;
}

// Training resumes bit for bit only if a product is the same every time for a given thread
// count: called again on the same operands, whole-pool (outside a parallel region) and one
// thread per call (inside one, as conv2d calls it per image), the bits must not change.
// Also: the call inside a parallel region runs on its own thread and gives the product.
TEST_P(GemmOnBackend, RepeatsBitForBitOnThePoolAndInsideParallelRegions) {
  const int64_t M = 100, N = 300, K = 784;  // LFC-like; large enough for the libraries to split work
  auto A = lowbit::testing::random_floats(static_cast<size_t>(M * K), 4);
  auto B = lowbit::testing::random_floats(static_cast<size_t>(N * K), 5);
  std::vector<float> C0(static_cast<size_t>(M * N)), C1 = C0, R = C0;
  gemm(Trans::No, Trans::Yes, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C0.data(), N);
  for (int rep = 0; rep < 3; ++rep) {
    gemm(Trans::No, Trans::Yes, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, C1.data(), N);
    ASSERT_EQ(C0, C1) << "repeat " << rep;
  }
  gemm_ref(Trans::No, Trans::Yes, M, N, K, 1.f, A.data(), K, B.data(), K, 0.f, R.data(), N);
  // Each team member multiplies its own rows; the result is the same product.
  const std::vector<float> P = product_by_team(Trans::Yes, M, N, K, A, B, K), Q = product_by_team(Trans::Yes, M, N, K, A, B, K);
  EXPECT_EQ(P, Q);
  for (size_t i = 0; i < P.size(); ++i) ASSERT_NEAR(P[i], R[i], 1e-3) << i;
}

TEST(Gemm, ComputeIsFloat32ByDefaultAndNamesParse) {
  EXPECT_EQ(gemm_compute(), GemmCompute::kFloat32);
  EXPECT_EQ(parse_gemm_compute("bf16"), GemmCompute::kBfloat16);
  EXPECT_EQ(parse_gemm_compute(gemm_compute_name(GemmCompute::kFloat32)), GemmCompute::kFloat32);
  lowbit::testing::expect_error_naming([] { parse_gemm_compute("fp16"); }, "unknown compute precision 'fp16'");
}

// --compute bf16: the product of the operands rounded to bfloat16, accumulated in float32.
// Against the double-accumulating reference on rounded copies, for every transpose, padded
// strides (the padding must not be read as operands), tails, alpha/beta, on both libraries;
// the operands are left as they were; and the result is not float32's (on operands that
// bfloat16 cannot hold), so a path that skipped the rounding would fail here.
// Sets the process-wide precision for a scope and restores float32 even when an ASSERT
// returns early (later tests in the process must not run in bf16).
struct ComputeScope {
  explicit ComputeScope(GemmCompute c) { set_gemm_compute(c); }
  ~ComputeScope() { set_gemm_compute(GemmCompute::kFloat32); }
};

TEST_P(GemmOnBackend, Bfloat16ComputeIsTheProductOfRoundedOperands) {
  ComputeScope bf16(GemmCompute::kBfloat16);
  const int64_t sizes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {17, 33, 65}, {100, 10, 1024}, {2, 3, 0}};
  bool differs_from_f32 = false;
  for (auto& s : sizes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
        auto A = lowbit::testing::random_floats(static_cast<size_t>((ta ? K : M) * lda + 1), 6);
        auto B = lowbit::testing::random_floats(static_cast<size_t>((tb ? N : K) * ldb + 1), 7);
        const auto A0 = A, B0 = B;
        auto Ar = A, Br = B;
        for (float& v : Ar) v = round_to_bfloat16(v);
        for (float& v : Br) v = round_to_bfloat16(v);
        auto C0 = lowbit::testing::random_floats(static_cast<size_t>(M * ldc), 8);
        auto C1 = C0, C2 = C0;
        gemm(Trans(ta), Trans(tb), M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.f, C0.data(), ldc);
        gemm_ref(Trans(ta), Trans(tb), M, N, K, 0.5f, Ar.data(), lda, Br.data(), ldb, 2.f, C1.data(), ldc);
        gemm(Trans(ta), Trans(tb), M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.f, C2.data(), ldc,
             GemmCompute::kFloat32);
        ASSERT_EQ(A, A0);
        ASSERT_EQ(B, B0);
        for (size_t i = 0; i < C0.size(); ++i)
          ASSERT_NEAR(C0[i], C1[i], 1e-4 * (1 + std::sqrt(static_cast<double>(K))))
              << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb << " i=" << i;
        for (size_t i = 0; i < C0.size(); ++i)
          differs_from_f32 = differs_from_f32 || std::fabs(C0[i] - C2[i]) > 1e-3f;
      }
  }
  EXPECT_TRUE(differs_from_f32);
}

// Inside a parallel region (conv2d's per-image calls) each thread rounds into its own
// buffers: the team's product repeats bit for bit and is the product of rounded operands.
TEST_P(GemmOnBackend, Bfloat16ComputeRepeatsInsideParallelRegions) {
  ComputeScope bf16(GemmCompute::kBfloat16);
  const int64_t M = 64, N = 300, K = 576;
  auto A = lowbit::testing::random_floats(static_cast<size_t>(M * K), 9);
  auto B = lowbit::testing::random_floats(static_cast<size_t>(K * N), 10);
  const std::vector<float> P = product_by_team(Trans::No, M, N, K, A, B, N), Q = product_by_team(Trans::No, M, N, K, A, B, N);
  EXPECT_EQ(P, Q);
  std::vector<float> whole(static_cast<size_t>(M * N));
  // Against the double reference on rounded operands (row splits may sum in another order).
  for (float& v : A) v = round_to_bfloat16(v);
  for (float& v : B) v = round_to_bfloat16(v);
  gemm_ref(Trans::No, Trans::No, M, N, K, 1.f, A.data(), K, B.data(), N, 0.f, whole.data(), N);
  for (size_t i = 0; i < P.size(); ++i) ASSERT_NEAR(P[i], whole[i], 1e-3) << i;
}

// Integer products beyond 2^24 (int8-range codes times 8-bit codes, K up to 4099, sums
// near 2^27: oneDNN's blocked accumulation happened to stay exact at K = 1025, not there):
// gemm_integers equals int64 accumulation rounded once to float, bit for bit, for every
// transpose and padded strides; a float GEMM of the same integers is not exact there.
TEST(Gemm, IntegerProductsAreExactBeyondTwoToThe24) {
  Rng rng(17);
  const int64_t sizes[][3] = {{1, 1, 1}, {3, 70, 600}, {33, 5, 1025}, {8, 8, 0}, {16, 64, 4099}};
  bool float_inexact = false;
  for (auto& s : sizes) {
    const int64_t M = s[0], N = s[1], K = s[2];
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
        std::vector<float> A(static_cast<size_t>((ta ? K : M) * lda + 1)), B(static_cast<size_t>((tb ? N : K) * ldb + 1));
        // Weight values of one sign per case (so sums do grow past 2^24), both signs over the cases.
        const float sign = tb ? -1.f : 1.f;
        for (float& v : A) v = sign * static_cast<float>(155 + rng.below(101));
        for (float& v : B) v = static_cast<float>(rng.below(256));                              // 8-bit codes
        std::vector<float> C0(static_cast<size_t>(M * ldc), -1.f), C1 = C0, C2 = C0;
        gemm_integers(Trans(ta), Trans(tb), M, N, K, A.data(), lda, B.data(), ldb, C0.data(), ldc);
        gemm_integers_ref(Trans(ta), Trans(tb), M, N, K, A.data(), lda, B.data(), ldb, C1.data(), ldc);
        ASSERT_EQ(C0, C1) << "M=" << M << " N=" << N << " K=" << K << " ta=" << ta << " tb=" << tb;
        gemm(Trans(ta), Trans(tb), M, N, K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C2.data(), ldc);
        float_inexact = float_inexact || C2 != C1;
      }
  }
  EXPECT_TRUE(float_inexact) << "the sizes no longer reach the range where float GEMMs round";
}

}  // namespace
}  // namespace lowbit::kernels

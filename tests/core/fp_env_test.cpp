#include "lowbit/core/fp_env.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cfloat>
#include <cfenv>
#include <vector>

#include "lowbit/core/threading.hpp"

namespace lowbit {
namespace {

// The mode is observable: a denormal input reads as zero, a denormal result flushes to zero.
float denormal_product() {
  volatile float a = 1e-20f, b = 1e-20f;  // 1e-40: denormal
  return a * b;
}

// Leaves the calling thread in the default IEEE mode (what a program embedding the runtime
// has), whatever the test binary set before.
struct DefaultMode {
  std::fenv_t saved;
  DefaultMode() {
    std::fegetenv(&saved);
    std::fesetenv(FE_DFL_ENV);  // glibc: MXCSR 0x1f80 on x86-64 (no FTZ/DAZ), FPCR 0 on AArch64
  }
  ~DefaultMode() { std::fesetenv(&saved); }
};

TEST(FpEnv, ContractFlushesDenormals) {
  DefaultMode plain;
  EXPECT_FALSE(in_fp_contract());
  EXPECT_GT(denormal_product(), 0.f);
  {
    FpContractScope scope;
    EXPECT_TRUE(in_fp_contract());
    EXPECT_EQ(denormal_product(), 0.f);
    EXPECT_EQ(std::fegetround(), FE_TONEAREST);
  }
  // The scope restores the caller's mode exactly: the runtime leaves its caller's threads as
  // it found them.
  EXPECT_FALSE(in_fp_contract());
  EXPECT_GT(denormal_product(), 0.f);
}

// 1 + 2^-24 is halfway between 1 and the next float: nearest-even gives 1, upward does not.
float one_plus_half_ulp() {
  volatile float a = 1.f, b = 0x1p-24f;
  return a + b;
}

TEST(FpEnv, ContractAlsoFixesTheRoundingMode) {
  DefaultMode plain;
  std::fesetround(FE_UPWARD);  // the caller's choice (x87 and SSE alike)
  EXPECT_GT(one_plus_half_ulp(), 1.f);
  {
    FpContractScope scope;
    EXPECT_EQ(one_plus_half_ulp(), 1.f);
  }
  EXPECT_GT(one_plus_half_ulp(), 1.f);
}

// set_num_threads puts every pool thread (which BLAS shares) in the contract mode.
TEST(FpEnv, SetNumThreadsCoversThePool) {
  DefaultMode plain;
  set_num_threads(3);
  std::vector<int> in_mode(3, 0);
#pragma omp parallel num_threads(3)
  in_mode[static_cast<size_t>(omp_get_thread_num())] = in_fp_contract();
  EXPECT_EQ(in_mode, std::vector<int>(3, 1));
  EXPECT_TRUE(in_fp_contract());
  set_num_threads(0);
}

}  // namespace
}  // namespace lowbit

// main() of lowbit_kernel_tests (CMake option LOWBIT_KERNELS_ONLY; scripts/cross-aarch64.sh):
// the bit-kernel GoogleTests, after one line per Highway target list so that a log shows
// which targets the tests ran on. It lives outside tests/ because the full build's
// lowbit_tests globs tests/, which holds its own main (tests/main.cpp).
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lowbit/kernels/bit_gemm.hpp"
#include "lowbit/kernels/bit_isa.hpp"

namespace {

std::string names(const std::vector<int64_t>& targets) {
  std::string s;
  for (int64_t t : targets) s += (s.empty() ? "" : ", ") + std::string(hwy::TargetName(t));
  return s;
}

std::string names(int64_t mask) {
  std::vector<int64_t> targets;
  for (int bit = 0; bit < 63; ++bit)
    if (mask & (int64_t{1} << bit)) targets.push_back(int64_t{1} << bit);
  return names(targets);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::printf("Highway targets this CPU supports: %s\n", names(hwy::SupportedTargets()).c_str());
  std::printf("--max-isa choices (bit_isa.cpp):   %s\n", lowbit::kernels::isa_choices().c_str());
  std::printf("bit kernels test these targets:    %s (dispatch picks %s)\n",
              names(lowbit::kernels::bit_kernel_targets()).c_str(), lowbit::kernels::bit_kernel_target());
  std::fflush(stdout);
  return RUN_ALL_TESTS();
}

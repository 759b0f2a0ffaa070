// The test binary's main: GoogleTest's, in the floating-point mode of the bit-exactness
// contract (core/fp_env.hpp), as every path of the library computes in it. Tests that need
// another mode set it themselves and restore it (tests/core/fp_env_test.cpp).
#include <gtest/gtest.h>

#include "lowbit/core/fp_env.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  lowbit::enter_fp_contract_all_threads();
  return RUN_ALL_TESTS();
}

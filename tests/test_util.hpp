// Small helpers shared by the test files.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"

namespace lowbit::testing {

// True when `tool` is on PATH (tests of the hardware flows skip without their simulator or
// synthesizer).
inline bool have_tool(const char* tool) { return std::system(cat("command -v ", tool, " > /dev/null 2>&1").c_str()) == 0; }

// n floats drawn uniformly from [lo, hi) by Rng(seed).
inline std::vector<float> random_floats(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  Rng rng(seed);
  for (float& x : v) x = rng.uniform(lo, hi);
  return v;
}

// The message of the lowbit::Error that f throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Expects f to throw a lowbit::Error whose message contains `needle` (a layer, file or
// flag name: errors must say what is at fault).
template <class F>
void expect_error_naming(F&& f, const std::string& needle) {
  std::string msg = error_of(std::forward<F>(f));
  if (msg.empty()) {
    ADD_FAILURE() << "expected an error naming '" << needle << "'";
    return;
  }
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
}

}  // namespace lowbit::testing

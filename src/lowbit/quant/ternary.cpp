#include "lowbit/quant/ternary.hpp"

#include <cmath>

namespace lowbit::quant {

float twn_threshold(const float* x, int64_t n) {
  if (n <= 0) return 0.f;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(x[i]));
  return static_cast<float>(0.7 * s / static_cast<double>(n));
}

void ternary_forward(const float* x, float* y, int64_t n, float t) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > t ? 1.f : (x[i] < -t ? -1.f : 0.f);
}

}  // namespace lowbit::quant

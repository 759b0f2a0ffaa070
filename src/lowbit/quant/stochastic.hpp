// Stochastic binarization (BinaryConnect / BinaryNet, Courbariaux et al. 2015/2016):
// y = +1 with probability hard_sigmoid(x) = clip((x + 1) / 2, 0, 1), else -1.
// The backward is the binary STE (binary_ste_backward in binary.hpp).
#pragma once
#include <cstdint>

#include "lowbit/core/rng.hpp"

namespace lowbit::quant {

inline float hard_sigmoid(float x) {
  float p = 0.5f * (x + 1.f);
  return p < 0.f ? 0.f : (p > 1.f ? 1.f : p);
}

// One uniform draw u in [0, 1) per element, in index order: y = u < p ? +1 : -1. So x >= 1
// (p = 1) is always +1 and x <= -1 (p = 0) always -1. y may alias x.
void stochastic_binary_forward(const float* x, float* y, int64_t n, Rng& rng);

}  // namespace lowbit::quant

// Ternary quantizer (TWN, Li & Liu 2016): y = +1 if x > t, -1 if x < -t, 0 otherwise.
// t is fixed ("ternary:T") or 0.7 * mean|x| over the whole tensor ("ternary").
// Backward: STE dx = dy * 1[|x| <= 1] (binary_ste_backward in binary.hpp).
// (TWN's per-layer scale alpha is not applied here; values are exactly -1, 0, +1.)
#pragma once
#include <cstdint>

namespace lowbit::quant {

// 0.7 * mean|x| (sum in double); 0 for n == 0.
float twn_threshold(const float* x, int64_t n);

// y may alias x. t >= 0.
void ternary_forward(const float* x, float* y, int64_t n, float t);

}  // namespace lowbit::quant

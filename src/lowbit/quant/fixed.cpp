#include "lowbit/quant/fixed.hpp"

#include <cmath>

#include "lowbit/core/error.hpp"

namespace lowbit::quant {

float fixed_max(int k, int f) {
  LOWBIT_CHECK(k >= 2 && k <= 16 && f >= 0 && f <= k, "fixed:", k, ",", f, ": need k in 2..16 and f in 0..k");
  return std::ldexp(static_cast<float>((1 << k) - 1), -f);
}

void fixed_act_forward(const float* x, float* y, int64_t n, int k, int f) {
  const float M = fixed_max(k, f);
  const float scale = std::ldexp(1.f, f), inv = std::ldexp(1.f, -f);
  for (int64_t i = 0; i < n; ++i) {
    float c = x[i] < 0.f ? 0.f : (x[i] > M ? M : x[i]);
    y[i] = std::round(c * scale) * inv;  // c * 2^f and the product are exact in float
  }
}

void fixed_act_backward(const float* x, const float* dy, float* dx, int64_t n, int k, int f) {
  const float M = fixed_max(k, f);
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i], v = x[i];  // unconditional loads: the select vectorises
    dx[i] = (v >= 0.f) & (v <= M) ? g : 0.f;
  }
}

float signed_fixed_min(int k, int f) {
  (void)fixed_max(k, f);  // checks k and f
  return std::ldexp(-static_cast<float>(1 << (k - 1)), -f);
}

float signed_fixed_max(int k, int f) {
  (void)fixed_max(k, f);
  return std::ldexp(static_cast<float>((1 << (k - 1)) - 1), -f);
}

void signed_fixed_act_forward(const float* x, float* y, int64_t n, int k, int f) {
  const float lo = signed_fixed_min(k, f), hi = signed_fixed_max(k, f);
  const float scale = std::ldexp(1.f, f), inv = std::ldexp(1.f, -f);
  for (int64_t i = 0; i < n; ++i) {
    // Clipping to the grid's ends first is exact, and then c * 2^f + 1/2 is exact too
    // (|c * 2^f| <= 2^15): floor rounds half up, as AP_RND, also for negative values
    // (std::round would round -0.5 away from zero).
    const float c = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
    y[i] = std::floor(c * scale + 0.5f) * inv;
  }
}

void signed_fixed_act_backward(const float* x, const float* dy, float* dx, int64_t n, int k, int f) {
  const float lo = signed_fixed_min(k, f), hi = signed_fixed_max(k, f);
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i], v = x[i];
    dx[i] = (v >= lo) & (v <= hi) ? g : 0.f;
  }
}

}  // namespace lowbit::quant

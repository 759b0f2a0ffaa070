#include "lowbit/quant/binary.hpp"

#include <cmath>

namespace lowbit::quant {

void binary_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = sign_pm1(x[i]);
}

void binary_ste_backward(const float* x, const float* dy, float* dx, int64_t n) {
  // dy is loaded unconditionally so the select vectorises (a load inside the branch is
  // "control flow" to GCC's vectoriser).
  for (int64_t i = 0; i < n; ++i) {
    const float g = dy[i];
    dx[i] = std::fabs(x[i]) <= 1.f ? g : 0.f;
  }
}

void approx_sign_backward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * std::fmax(0.f, 2.f - 2.f * std::fabs(x[i]));
}

void swish_sign_backward(const float* x, const float* dy, float* dx, int64_t n, float beta) {
  for (int64_t i = 0; i < n; ++i) {
    float bx = beta * x[i];
    // cosh overflows to inf for |bx| > ~89; the quotient is then 0, which is the limit.
    float g = beta * (2.f - bx * std::tanh(0.5f * bx)) / (1.f + std::cosh(bx));
    dx[i] = dy[i] * g;
  }
}

}  // namespace lowbit::quant

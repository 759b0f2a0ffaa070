// Binary (sign) quantizers on raw float buffers. Forward: y = +1 if x >= 0 else -1
// (sign(0) = +1, the project-wide bit convention). The backward functions differ only in
// the surrogate gradient. All backward functions overwrite dx (no accumulation); dx may
// alias dy. n may be 0.
#pragma once
#include <cstdint>

namespace lowbit::quant {

// sign(x) as +-1.f, sign(0) = sign(-0) = +1, sign(NaN) = -1 (NaN >= 0 is false). Written
// as arithmetic on the comparison, not `x >= 0 ? 1 : -1`: GCC 12 compiles that select to a
// branch and leaves the loop scalar, and on activations, whose signs are random, the
// branch mispredicts about half the time (sign_forward was 31% of a W1A1 LFC step on
// AVX2). 2 * {0,1} - 1 is exact, so the values are the same.
inline float sign_pm1(float x) { return 2.f * static_cast<float>(x >= 0.f) - 1.f; }

// y = sign(x), sign(0) = +1. y may alias x.
void binary_forward(const float* x, float* y, int64_t n);

// Straight-through estimator (BinaryNet, Courbariaux et al. 2016): dx = dy * 1[|x| <= 1].
void binary_ste_backward(const float* x, const float* dy, float* dx, int64_t n);

// ApproxSign (Bi-Real Net, Liu et al. 2018): dx = dy * max(0, 2 - 2|x|).
void approx_sign_backward(const float* x, const float* dy, float* dx, int64_t n);

// SwishSign (Darabi et al. 2018, as Larq): derivative of 2*sigmoid(b x)*(1 + b x (1 - sigmoid(b x))) - 1,
// dx = dy * b * (2 - b x tanh(b x / 2)) / (1 + cosh(b x)).
void swish_sign_backward(const float* x, const float* dy, float* dx, int64_t n, float beta = 5.f);

}  // namespace lowbit::quant

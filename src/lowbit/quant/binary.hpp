// Binary (sign) quantizers on raw float buffers. Forward: y = +1 if x >= 0 else -1
// (sign(0) = +1, the project-wide bit convention). The backward functions differ only in
// the surrogate gradient. All backward functions overwrite dx (no accumulation); dx may
// alias dy. n may be 0.
#pragma once
#include <cstdint>

namespace lowbit::quant {

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

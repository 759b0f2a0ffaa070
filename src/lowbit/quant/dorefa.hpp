// DoReFa-Net quantizers (Zhou et al. 2016), k in 1..8. Rounding is std::round (half away
// from zero); every argument it sees is >= 0, so this is also round-half-up.
// Backward functions overwrite dx (no accumulation); dx may alias dy.
#pragma once
#include <cstdint>

namespace lowbit::quant {

// Weights: t = tanh(w), m = max_j |t_j| (m := 1 when every t is 0),
//   w' = t / (2 m) + 1/2,  q = round((2^k - 1) w') / (2^k - 1),  y = 2 q - 1.
// So y lies on the grid {-1, -1 + 2/(2^k-1), ..., +1}. y may alias w.
void dorefa_weight_forward(const float* w, float* y, int64_t n, int k);

// Gradient of y = t / m (the forward with the rounding replaced by the identity, i.e. STE
// through round), including the dependence of m on the arg-max element a (first index
// on ties):  dx_j = dy_j (1 - t_j^2) / m
//                   - [j == a] sign(t_a) (1 - t_a^2) / m^2 * sum_i dy_i t_i.
void dorefa_weight_backward(const float* w, const float* dy, float* dx, int64_t n);

// Activations: y = round((2^k - 1) clip(x, 0, 1)) / (2^k - 1). y may alias x.
void dorefa_act_forward(const float* x, float* y, int64_t n, int k);

// dx = dy * 1[0 <= x <= 1].
void dorefa_act_backward(const float* x, const float* dy, float* dx, int64_t n);

}  // namespace lowbit::quant

// Unsigned fixed-point activations "fixed:k,f" (SYQ, Faraone et al. 2018; Faraone thesis):
// k total bits, f of them fraction bits, so the grid step is 2^-f and the largest value
// M = (2^k - 1) / 2^f.  Forward: G(x) = floor(2^f x + 1/2) / 2^f clipped to [0, M]
// (round half up; implemented as std::round of the clipped value, which is the same
// since clipping first is exact on the grid and the argument is then >= 0).
// Backward: STE dx = dy * 1[0 <= x <= M]; dx overwritten, may alias dy.
//
// Signed fixed point "fixed:k,f:signed": Vivado HLS's ap_fixed<k, k - f, AP_RND, AP_SAT>
// (two's complement, k bits, f fraction bits; round half up, saturate), the type FINN's
// BNN-PYNQ CNV overlays read their 8-bit input pixels as (ap_fixed<8, 1>). Codes
// q = clamp(floor(2^f x + 1/2), -2^(k-1), 2^(k-1) - 1), value q / 2^f, so the range is
// [-2^(k-1-f), (2^(k-1) - 1) / 2^f]. Backward: STE dx = dy * 1[lo <= x <= hi].
#pragma once
#include <cstdint>

namespace lowbit::quant {

// M = (2^k - 1) / 2^f.
float fixed_max(int k, int f);

// k in 2..16, f in 0..k. y may alias x.
void fixed_act_forward(const float* x, float* y, int64_t n, int k, int f);
void fixed_act_backward(const float* x, const float* dy, float* dx, int64_t n, int k, int f);

// The signed range: lo = -2^(k-1) / 2^f, hi = (2^(k-1) - 1) / 2^f. k in 2..16, f in 0..k.
float signed_fixed_min(int k, int f);
float signed_fixed_max(int k, int f);
void signed_fixed_act_forward(const float* x, float* y, int64_t n, int k, int f);
void signed_fixed_act_backward(const float* x, const float* dy, float* dx, int64_t n, int k, int f);

}  // namespace lowbit::quant

// Rounding float32 values onto low-precision number grids: the kernels behind the number
// formats of low-precision training (quant/number_format.hpp, docs/NUMERICS.md).
//
// Every kernel has a plain scalar `_ref` twin, the specification; the dispatched kernel
// (Google Highway, every compiled target) returns the same bits for every input, which
// tests/kernels/number_round_test.cpp checks on every target over a sweep of lengths and
// formats. Both compute in float32 in the FP contract mode (core/fp_env.hpp: denormals
// flushed, so results below 2^-126 in magnitude are 0).
//
// ## The grid rounding all formats share: round_to_grid
// With an exponent s (the grid step is 2^s) and integer code bounds [qmin, qmax]:
//   r = x * 2^-s                      (exact: a power-of-two scale, split in two factors
//                                      so that no intermediate overflows)
//   f = floor(r), d = r - f           (d in [0, 1]; exact except for r in (-1, 0), where
//                                      it rounds to float: the rules below read r itself
//                                      where that matters)
//   q = f + up                        where `up` is, per RoundMode:
//     kNearestEven  d > 1/2, or d == 1/2 and f odd       (IEEE 754 roundTiesToEven)
//     kNearestUp    d >= 1/2                              (floor(r + 1/2): ties toward +inf)
//     kNearestAway  r > f + 1/2, or d == 1/2 and r > 0    (ties away from zero)
//     kTowardZero   d > 0 and r < 0                       (truncation)
//     kStochastic   u < d, u = (h >> 8) * 2^-24           (P(up) = d to within 2^-24)
//   q = clamp(q, qmin, qmax);  y = q * 2^s                (split like the scale)
// Zero results are +0. NaN stays NaN; +-inf becomes qmax*2^s / qmin*2^s (then is clamped).
// With unbounded codes (qmin, qmax = -inf, +inf) r overflows to inf only for finite
// |x| >= 2^(128 + s), a multiple of 2^s already: y = x there.
// Stochastic rounding is floor(r + u) in distribution (Gupta et al., ICML 2015, eq. 6;
// QPyTorch's "stochastic"), written as u < d so that no float addition rounds r + u.
//
// ## Reproducible random bits: counter-based, keyed by (seed, step, tensor, element)
// h = mix32(mix32(e ^ key.k0) + key.k1), e = stream.first + i the element's index in its
// tensor (< 2^32), mix32 = Wellons' "lowbias32" integer hash (a bijection on 32 bits).
// The bits depend only on the key and the element index, never on threads, chunking or
// call order, so any split of a tensor into calls gives the same result (tested).
#pragma once
#include <cstdint>

namespace lowbit::kernels {

enum class RoundMode : uint8_t {
  kNearestEven = 0,
  kNearestUp = 1,
  kNearestAway = 2,
  kTowardZero = 3,
  kStochastic = 4,
};

// The random-bit stream of one tensor (RoundMode::kStochastic only; ignored otherwise).
struct RoundStream {
  uint32_t k0 = 0, k1 = 0;  // the tensor's key: round_stream_key()
  uint32_t first = 0;       // the element index of x[0] within the tensor
};

// The key of the stream for (seed, step, tensor id): splitmix64 of the three, split in two.
RoundStream round_stream_key(uint64_t seed, uint64_t step, uint64_t tensor);

// Wellons' lowbias32 (https://nullprogram.com/blog/2018/07/31/): x ^= x >> 16;
// x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16.
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
// The 32 random bits of element index e.
inline uint32_t round_bits(const RoundStream& s, uint32_t e) { return mix32(mix32(e ^ s.k0) + s.k1); }

// The length and stream checks every kernel here and its twin make: lowbit::Error for n < 0,
// or for stream.first + n > 2^32 when mode is kStochastic.
void check_round_stream(int64_t n, RoundMode mode, RoundStream stream);

// ## Fixed point and block floating point: one step for all elements
// y[i] = round_to_grid(x[i]) with step 2^s and codes in [qmin, qmax] (qmin <= 0 <= qmax,
// |qmin|, |qmax| <= 2^24 so every code is a float; s in [-149, 127]). y may alias x.
// n >= 0; stream.first + n <= 2^32 when mode is kStochastic.
void round_fixed(const float* x, float* y, int64_t n, int s, float qmin, float qmax, RoundMode mode,
                 RoundStream stream);
void round_fixed_ref(const float* x, float* y, int64_t n, int s, float qmin, float qmax,
                     RoundMode mode, RoundStream stream);

// ## Minifloat: the step follows each element's exponent
// A float format with `man` stored mantissa bits and normal exponents emin..emax
// (emin >= -126, emax <= 127, 0 <= man <= 23). Per element: e = the unbiased exponent of
// |x| (its float32 exponent field - 127), the step exponent s = max(e, emin) - man
// (subnormals below 2^emin share the step 2^(emin - man)), codes unbounded: y =
// round_to_grid(x) with that step. Then |y| > maxval = (2 - 2^-man) * 2^emax becomes
// +-maxval, or +-inf when inf_on_overflow and the mode is not kTowardZero (IEEE 754's
// overflow rule: round-to-nearest overflows to inf, truncation to the largest finite).
// NaN stays NaN; +-inf becomes +-maxval (or stays +-inf with inf_on_overflow). y may alias x.
void round_minifloat(const float* x, float* y, int64_t n, int man, int emin, int emax,
                     bool inf_on_overflow, RoundMode mode, RoundStream stream);
void round_minifloat_ref(const float* x, float* y, int64_t n, int man, int emin, int emax,
                         bool inf_on_overflow, RoundMode mode, RoundStream stream);

// The largest |x[i]| over the finite elements (0 when there are none, or n == 0): block
// floating point's shared exponent comes from it.
float max_abs_finite(const float* x, int64_t n);
float max_abs_finite_ref(const float* x, int64_t n);

}  // namespace lowbit::kernels

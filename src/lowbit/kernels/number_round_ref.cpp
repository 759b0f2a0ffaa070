// The scalar specifications of kernels/number_round.hpp. Plain C++, one element at a time,
// in the float operation order the header gives, so that the dispatched kernels can match
// them bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/core/rng.hpp"
#include "lowbit/kernels/number_round.hpp"

namespace lowbit::kernels {

RoundStream round_stream_key(uint64_t seed, uint64_t step, uint64_t tensor) {
  uint64_t x = seed;
  uint64_t k = splitmix64(x);
  x = k ^ step;
  k = splitmix64(x);
  x = k ^ tensor;
  k = splitmix64(x);
  RoundStream s;
  s.k0 = static_cast<uint32_t>(k);
  s.k1 = static_cast<uint32_t>(k >> 32);
  return s;
}

namespace {

// 2^e as a float, e in [-126, 127].
float pow2(int e) {
  uint32_t bits = static_cast<uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// One element of round_to_grid (number_round.hpp): x * 2^-s rounded per mode, clamped to
// [qmin, qmax], times 2^s. s1 + s2 = s, each within float's normal exponents.
float round_one(float x, int s1, int s2, float qmin, float qmax, RoundMode mode, uint32_t bits) {
  if (std::isnan(x)) return x;
  const float r = x * pow2(-s1) * pow2(-s2);
  const float f = std::floor(r);
  const float d = r - f;
  bool up = false;
  switch (mode) {
    case RoundMode::kNearestEven: {
      const float half_f = f * 0.5f;
      const bool odd = half_f != std::floor(half_f);
      up = d > 0.5f || (d == 0.5f && odd);
      break;
    }
    case RoundMode::kNearestUp: up = d >= 0.5f; break;
    // d > 1/2 tested as r > f + 1/2 (exact): for r in (-1, 0), d = 1 + r rounds, and
    // r = -(1/2 - 2^-25) gave d == 1/2, a false tie rounded to -1.
    case RoundMode::kNearestAway: up = r > f + 0.5f || (d == 0.5f && r > 0.f); break;
    case RoundMode::kTowardZero: up = d > 0.f && r < 0.f; break;
    case RoundMode::kStochastic: up = static_cast<float>(bits >> 8) * 0x1.0p-24f < d; break;
  }
  float q = up ? f + 1.f : f;
  q = q < qmin ? qmin : q;
  q = q > qmax ? qmax : q;
  float y = q * pow2(s1) * pow2(s2);
  // Without code bounds, r overflows only for |x| >= 2^(128 + s), which is a multiple of
  // 2^s already (its ulp is at least 2^(105 + s)): it is its own rounding.
  if (std::isinf(y) && std::isfinite(x)) y = x;
  return y == 0.f ? 0.f : y;  // +0 for every zero result
}

}  // namespace

void check_round_stream(int64_t n, RoundMode mode, RoundStream stream) {
  LOWBIT_CHECK(n >= 0, "number rounding: negative length ", n);
  if (mode == RoundMode::kStochastic)
    LOWBIT_CHECK(static_cast<uint64_t>(stream.first) + static_cast<uint64_t>(n) <= (uint64_t{1} << 32),
                 "number rounding: stochastic rounding numbers elements with 32 bits; ",
                 stream.first, " + ", n, " elements do not fit");
}

void round_fixed_ref(const float* x, float* y, int64_t n, int s, float qmin, float qmax,
                     RoundMode mode, RoundStream stream) {
  check_round_stream(n, mode, stream);
  LOWBIT_CHECK(s >= -149 && s <= 127, "round_fixed: step exponent ", s, " outside [-149, 127]");
  const int s1 = s / 2, s2 = s - s1;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits =
        mode == RoundMode::kStochastic ? round_bits(stream, stream.first + static_cast<uint32_t>(i)) : 0;
    y[i] = round_one(x[i], s1, s2, qmin, qmax, mode, bits);
  }
}

void round_minifloat_ref(const float* x, float* y, int64_t n, int man, int emin, int emax,
                         bool inf_on_overflow, RoundMode mode, RoundStream stream) {
  check_round_stream(n, mode, stream);
  LOWBIT_CHECK(man >= 0 && man <= 23 && emin >= -126 && emax <= 127 && emin <= emax,
               "round_minifloat: mantissa bits ", man, ", exponents [", emin, ", ", emax,
               "] outside 0..23, [-126, 127]");
  const float maxval = (2.f - pow2(-man)) * pow2(emax);
  const float inf = HUGE_VALF;
  const float overflow = inf_on_overflow && mode != RoundMode::kTowardZero ? inf : maxval;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    const int e = static_cast<int>((b >> 23) & 0xFF) - 127;
    const int s = (e > emin ? e : emin) - man;
    const int s1 = s / 2, s2 = s - s1;
    const uint32_t bits =
        mode == RoundMode::kStochastic ? round_bits(stream, stream.first + static_cast<uint32_t>(i)) : 0;
    float r = round_one(v, s1, s2, -inf, inf, mode, bits);
    if (std::isinf(v) && inf_on_overflow) r = v;
    else if (r > maxval) r = overflow;
    else if (r < -maxval) r = -overflow;
    y[i] = r;
  }
}

float max_abs_finite_ref(const float* x, int64_t n) {
  float m = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (std::isfinite(a) && a > m) m = a;
  }
  return m;
}

}  // namespace lowbit::kernels

// The dispatched number-rounding kernels (kernels/number_round.hpp), with Highway's
// run-time dispatch (one compile per SIMD target, the targets of bit_targets.hpp). Each
// lane repeats the scalar twin's float operations in the same order (number_round_ref.cpp),
// so both return the same bits: r = x * 2^-s1 * 2^-s2, f = Floor(r), d = r - f, the mode's
// `up` as a mask, clamp by compare-and-select, y = q * 2^s1 * 2^s2, zeros made +0 and NaN
// lanes given back x. Minifloats compute each lane's step exponent from its float32
// exponent field in int32 lanes; stochastic rounding hashes the element indices with mix32
// in uint32 lanes. Whole vectors first, then the tail through a vector-sized buffer on the
// stack (no allocation, and the same code path as the rest).
#include "lowbit/kernels/bit_targets.hpp"  // before Highway: the targets of every bit kernel
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "lowbit/kernels/number_round.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h
#include <hwy/highway.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "lowbit/core/error.hpp"
#include "lowbit/kernels/number_round.hpp"

HWY_BEFORE_NAMESPACE();
namespace lowbit::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
using VU = hn::Vec<DU>;

// mix32 (number_round.hpp) in every lane.
HWY_INLINE VU Mix32(VU x) {
  const DU du;
  x = hn::Xor(x, hn::ShiftRight<16>(x));
  x = hn::Mul(x, hn::Set(du, 0x7feb352dU));
  x = hn::Xor(x, hn::ShiftRight<15>(x));
  x = hn::Mul(x, hn::Set(du, 0x846ca68bU));
  x = hn::Xor(x, hn::ShiftRight<16>(x));
  return x;
}

// round_bits of the element indices in `e` (wrapping past 2^32 only in lanes of the tail
// buffer beyond n, which are not stored).
HWY_INLINE VU RoundBits(VU e, VU k0, VU k1) { return Mix32(hn::Add(Mix32(hn::Xor(e, k0)), k1)); }

// 2^e in each lane, e in [-126, 127] (the twin's pow2).
HWY_INLINE VF Pow2(VI e) {
  const DF df;
  const DI di;
  return hn::BitCast(df, hn::ShiftLeft<23>(hn::Add(e, hn::Set(di, 127))));
}

// The scale factors of round_one: r = x * down1 * down2, y = q * up1 * up2.
struct Scales {
  VF down1, down2, up1, up2;
};

// round_one (number_round_ref.cpp) in every lane; bits: the lane's round_bits (kStochastic).
template <RoundMode kMode>
HWY_INLINE VF RoundOne(VF x, const Scales& sc, VF qmin, VF qmax, VU bits) {
  const DF df;
  const DI di;
  const VF zero = hn::Zero(df), half = hn::Set(df, 0.5f), one = hn::Set(df, 1.f);
  const VF r = hn::Mul(hn::Mul(x, sc.down1), sc.down2);
  const VF f = hn::Floor(r);
  const VF d = hn::Sub(r, f);
  hn::Mask<DF> up;
  if constexpr (kMode == RoundMode::kNearestEven) {
    const VF half_f = hn::Mul(f, half);
    const auto odd = hn::Ne(half_f, hn::Floor(half_f));
    up = hn::Or(hn::Gt(d, half), hn::And(hn::Eq(d, half), odd));
  } else if constexpr (kMode == RoundMode::kNearestUp) {
    up = hn::Ge(d, half);
  } else if constexpr (kMode == RoundMode::kNearestAway) {
    up = hn::Or(hn::Gt(r, hn::Add(f, half)), hn::And(hn::Eq(d, half), hn::Gt(r, zero)));
  } else if constexpr (kMode == RoundMode::kTowardZero) {
    up = hn::And(hn::Gt(d, zero), hn::Lt(r, zero));
  } else {
    // (bits >> 8) < 2^24: exact as int32 and as float.
    const VF u = hn::Mul(hn::ConvertTo(df, hn::BitCast(di, hn::ShiftRight<8>(bits))), hn::Set(df, 0x1.0p-24f));
    up = hn::Lt(u, d);
  }
  VF q = hn::IfThenElse(up, hn::Add(f, one), f);
  q = hn::IfThenElse(hn::Lt(q, qmin), qmin, q);
  q = hn::IfThenElse(hn::Gt(q, qmax), qmax, q);
  VF y = hn::Mul(hn::Mul(q, sc.up1), sc.up2);
  y = hn::IfThenElse(hn::And(hn::IsInf(y), hn::IsFinite(x)), x, y);  // r overflowed: x is on the grid
  y = hn::IfThenElse(hn::Eq(y, zero), zero, y);  // +0 for every zero result
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}

// Runs round(v, bits) over x[0, n) into y, whole vectors then the tail in a buffer. y may
// alias x (each vector is loaded before it is stored).
template <RoundMode kMode, class Round>
HWY_INLINE void RoundLoop(const float* x, float* y, int64_t n, const RoundStream& stream, Round round) {
  const DF df;
  const DU du;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  // The element indices of the current vector, advanced by L per vector: Iota builds its
  // vector through memory (a store-forwarding stall per call), so it is called once.
  VU index = hn::Iota(du, stream.first);
  const VU lanes = hn::Set(du, static_cast<uint32_t>(L));
  const VU k0 = hn::Set(du, stream.k0), k1 = hn::Set(du, stream.k1);
  auto bits_at = [&](int64_t) {
    if constexpr (kMode == RoundMode::kStochastic) {
      const VU bits = RoundBits(index, k0, k1);
      index = hn::Add(index, lanes);
      return bits;
    } else {
      return hn::Zero(du);
    }
  };
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(round(hn::LoadU(df, x + i), bits_at(i)), df, y + i);
  if (i < n) {
    constexpr int64_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);
    static_assert(kMaxLanes >= 1);
    HWY_ALIGN float buf[kMaxLanes] = {};
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(buf, x + i, rest * sizeof(float));
    hn::Store(round(hn::Load(df, buf), bits_at(i)), df, buf);
    std::memcpy(y + i, buf, rest * sizeof(float));
  }
}

template <RoundMode kMode>
HWY_INLINE void RoundFixedT(const float* x, float* y, int64_t n, const Scales& sc, float qmin, float qmax,
                            const RoundStream& stream) {
  const DF df;
  const VF vmin = hn::Set(df, qmin), vmax = hn::Set(df, qmax);
  RoundLoop<kMode>(x, y, n, stream, [&](VF v, VU bits) { return RoundOne<kMode>(v, sc, vmin, vmax, bits); });
}

// a1, a2: 2^-s1, 2^-s2; b1, b2: 2^s1, 2^s2 (s = s1 + s2, s1 = s / 2).
void RoundFixedImpl(const float* x, float* y, int64_t n, float a1, float a2, float b1, float b2, float qmin, float qmax,
                    RoundMode mode, RoundStream stream) {
  const DF df;
  const Scales sc{hn::Set(df, a1), hn::Set(df, a2), hn::Set(df, b1), hn::Set(df, b2)};
  switch (mode) {
    case RoundMode::kNearestEven: return RoundFixedT<RoundMode::kNearestEven>(x, y, n, sc, qmin, qmax, stream);
    case RoundMode::kNearestUp: return RoundFixedT<RoundMode::kNearestUp>(x, y, n, sc, qmin, qmax, stream);
    case RoundMode::kNearestAway: return RoundFixedT<RoundMode::kNearestAway>(x, y, n, sc, qmin, qmax, stream);
    case RoundMode::kTowardZero: return RoundFixedT<RoundMode::kTowardZero>(x, y, n, sc, qmin, qmax, stream);
    case RoundMode::kStochastic: return RoundFixedT<RoundMode::kStochastic>(x, y, n, sc, qmin, qmax, stream);
  }
}

// One lane's minifloat rounding (round_minifloat_ref's loop body).
template <RoundMode kMode>
HWY_INLINE VF RoundMinifloatOne(VF v, VU bits, int man, int emin, bool inf_on_overflow, float maxval,
                                float overflow) {
  const DF df;
  const DI di;
  const DU du;
  const VF inf = hn::Set(df, HUGE_VALF);
  // e = exponent field - 127, s = max(e, emin) - man, s1 = s / 2 (toward zero), s2 = s - s1.
  const VI e = hn::Sub(hn::BitCast(di, hn::And(hn::ShiftRight<23>(hn::BitCast(du, v)), hn::Set(du, 0xFF))),
                       hn::Set(di, 127));
  const VI s = hn::Sub(hn::Max(e, hn::Set(di, emin)), hn::Set(di, man));
  const VI s1 = hn::ShiftRight<1>(hn::Add(s, hn::BitCast(di, hn::ShiftRight<31>(hn::BitCast(du, s)))));
  const VI s2 = hn::Sub(s, s1);
  const Scales sc{Pow2(hn::Neg(s1)), Pow2(hn::Neg(s2)), Pow2(s1), Pow2(s2)};
  const VF r = RoundOne<kMode>(v, sc, hn::Neg(inf), inf, bits);
  VF out = hn::IfThenElse(hn::Lt(r, hn::Set(df, -maxval)), hn::Set(df, -overflow), r);
  out = hn::IfThenElse(hn::Gt(r, hn::Set(df, maxval)), hn::Set(df, overflow), out);
  if (inf_on_overflow) out = hn::IfThenElse(hn::IsInf(v), v, out);
  return out;
}

// The minifloats whose exponent range is float32's (emin = -126: bfloat16 and every
// float:8,M), for 1 <= man <= 22: their grid is every float32 bit pattern whose low
// k = 23 - man bits are 0, in the normal and the subnormal range alike, so the rounding is
// integer arithmetic on the magnitude's bits, M = |x|'s bits, D = M's low k bits: keep
// M - D and add 2^k ("up") by the twin's rule rewritten for magnitudes (for x < 0 the
// twin's r = x / delta is negative and its fraction d is 1 - D / 2^k):
//   nearest-even  D > 2^(k-1), or = and the kept lowest bit (the quotient's parity) is 1
//   nearest-up    D > 2^(k-1), or = and x > 0 (ties toward +inf)
//   nearest-away  D >= 2^(k-1)
//   toward zero   never
//   stochastic    with h = bits >> (32 - k) (the top k of the twin's 24 random bits: the
//                 twin's u < d holds exactly when h < D for x > 0, and fails exactly when
//                 D + h >= 2^k for x < 0, as d is a multiple of 2^-k)
// A carry out of the mantissa is the next binade's value (or infinity past float32's
// largest, which the saturation below treats as the twin does). Infinities keep D = 0 and
// stay, NaNs are given back, zero results are +0, then the saturation of
// RoundMinifloatOne. A vector holding a denormal input takes RoundMinifloatOne instead:
// the twin's float arithmetic reads denormals as zero under DAZ (fp_env.hpp) and exactly
// otherwise, and the general path does what the twin does in either mode.
template <RoundMode kMode>
HWY_INLINE VF RoundFloat32RangeOne(VF v, VU bits, int k, bool inf_on_overflow, float maxval, float overflow) {
  const DF df;
  const DU du;
  const VU zero = hn::Zero(du);
  const VU b = hn::BitCast(du, v);
  const VU sign = hn::And(b, hn::Set(du, 0x80000000u));
  const VU mag = hn::Xor(b, sign);
  const VU unit = hn::Set(du, 1u << k), low = hn::Set(du, (1u << k) - 1u), half = hn::Set(du, 1u << (k - 1));
  const VU d = hn::And(mag, low);
  hn::Mask<DU> up;
  if constexpr (kMode == RoundMode::kNearestEven) {
    up = hn::Or(hn::Gt(d, half), hn::And(hn::Eq(d, half), hn::Ne(hn::And(mag, unit), zero)));
  } else if constexpr (kMode == RoundMode::kNearestUp) {
    up = hn::Or(hn::Gt(d, half), hn::And(hn::Eq(d, half), hn::Eq(sign, zero)));
  } else if constexpr (kMode == RoundMode::kNearestAway) {
    up = hn::Gt(d, hn::Sub(half, hn::Set(du, 1u)));
  } else if constexpr (kMode == RoundMode::kTowardZero) {
    up = hn::Ne(zero, zero);
  } else {
    const VU h = hn::ShiftRightSame(bits, 32 - k);
    const auto positive = hn::Eq(sign, zero);
    up = hn::Or(hn::And(positive, hn::Lt(h, d)), hn::AndNot(positive, hn::Gt(hn::Add(d, h), hn::Sub(unit, hn::Set(du, 1u)))));
  }
  const VU m = hn::Add(hn::Xor(mag, d), hn::IfThenElseZero(up, unit));
  VF r = hn::BitCast(df, hn::IfThenElseZero(hn::Ne(m, zero), hn::Or(m, sign)));
  r = hn::IfThenElse(hn::IsNaN(v), v, r);
  VF out = hn::IfThenElse(hn::Lt(r, hn::Set(df, -maxval)), hn::Set(df, -overflow), r);
  out = hn::IfThenElse(hn::Gt(r, hn::Set(df, maxval)), hn::Set(df, overflow), out);
  if (inf_on_overflow) out = hn::IfThenElse(hn::IsInf(v), v, out);
  return out;
}

template <RoundMode kMode>
HWY_INLINE void RoundMinifloatT(const float* x, float* y, int64_t n, int man, int emin, bool inf_on_overflow,
                                float maxval, float overflow, const RoundStream& stream) {
  if (emin == -126 && man >= 1 && man <= 22) {
    const DU du;
    const VU expo = hn::Set(du, 0x7F800000u), mag_bits = hn::Set(du, 0x7FFFFFFFu), zero = hn::Zero(du);
    const int k = 23 - man;
    RoundLoop<kMode>(x, y, n, stream, [&](VF v, VU bits) {
      const VU b = hn::BitCast(du, v);
      const auto denormal = hn::And(hn::Eq(hn::And(b, expo), zero), hn::Ne(hn::And(b, mag_bits), zero));
      if (HWY_UNLIKELY(!hn::AllFalse(du, denormal)))
        return RoundMinifloatOne<kMode>(v, bits, man, emin, inf_on_overflow, maxval, overflow);
      return RoundFloat32RangeOne<kMode>(v, bits, k, inf_on_overflow, maxval, overflow);
    });
    return;
  }
  RoundLoop<kMode>(x, y, n, stream, [&](VF v, VU bits) {
    return RoundMinifloatOne<kMode>(v, bits, man, emin, inf_on_overflow, maxval, overflow);
  });
}

void RoundMinifloatImpl(const float* x, float* y, int64_t n, int man, int emin, bool inf_on_overflow, float maxval,
                        float overflow, RoundMode mode, RoundStream stream) {
#define LOWBIT_ROUND_MINIFLOAT(M) \
  RoundMinifloatT<M>(x, y, n, man, emin, inf_on_overflow, maxval, overflow, stream)
  switch (mode) {
    case RoundMode::kNearestEven: return LOWBIT_ROUND_MINIFLOAT(RoundMode::kNearestEven);
    case RoundMode::kNearestUp: return LOWBIT_ROUND_MINIFLOAT(RoundMode::kNearestUp);
    case RoundMode::kNearestAway: return LOWBIT_ROUND_MINIFLOAT(RoundMode::kNearestAway);
    case RoundMode::kTowardZero: return LOWBIT_ROUND_MINIFLOAT(RoundMode::kTowardZero);
    case RoundMode::kStochastic: return LOWBIT_ROUND_MINIFLOAT(RoundMode::kStochastic);
  }
#undef LOWBIT_ROUND_MINIFLOAT
}

// m = a where a is finite and a > m, as the twin's loop (compare and select, not Max: a
// denormal never wins a compare with DAZ set, as in the twin); two accumulators.
float MaxAbsFiniteImpl(const float* x, int64_t n) {
  const DF df;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df));
  auto step = [](VF m, VF v) {
    const VF a = hn::Abs(v);
    return hn::IfThenElse(hn::And(hn::IsFinite(a), hn::Gt(a, m)), a, m);
  };
  VF m0 = hn::Zero(df), m1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    m0 = step(m0, hn::LoadU(df, x + i));
    m1 = step(m1, hn::LoadU(df, x + i + L));
  }
  for (; i + L <= n; i += L) m0 = step(m0, hn::LoadU(df, x + i));
  if (i < n) {
    constexpr int64_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);
    HWY_ALIGN float buf[kMaxLanes] = {};
    std::memcpy(buf, x + i, static_cast<size_t>(n - i) * sizeof(float));
    m1 = step(m1, hn::Load(df, buf));
  }
  m0 = step(m0, m1);  // both hold finite values >= +0 only
  return hn::GetLane(hn::MaxOfLanes(df, m0));
}

}  // namespace lowbit::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit::kernels {

HWY_EXPORT(RoundFixedImpl);
HWY_EXPORT(RoundMinifloatImpl);
HWY_EXPORT(MaxAbsFiniteImpl);

namespace {

// 2^e as a float, e in [-126, 127] (the twin's pow2).
float pow2(int e) {
  uint32_t bits = static_cast<uint32_t>(e + 127) << 23;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

void round_fixed(const float* x, float* y, int64_t n, int s, float qmin, float qmax, RoundMode mode,
                 RoundStream stream) {
  check_round_stream(n, mode, stream);
  LOWBIT_CHECK(s >= -149 && s <= 127, "round_fixed: step exponent ", s, " outside [-149, 127]");
  if (n == 0) return;
  const int s1 = s / 2, s2 = s - s1;
  HWY_DYNAMIC_DISPATCH(RoundFixedImpl)(x, y, n, pow2(-s1), pow2(-s2), pow2(s1), pow2(s2), qmin, qmax, mode, stream);
}

void round_minifloat(const float* x, float* y, int64_t n, int man, int emin, int emax,
                     bool inf_on_overflow, RoundMode mode, RoundStream stream) {
  check_round_stream(n, mode, stream);
  LOWBIT_CHECK(man >= 0 && man <= 23 && emin >= -126 && emax <= 127 && emin <= emax,
               "round_minifloat: mantissa bits ", man, ", exponents [", emin, ", ", emax,
               "] outside 0..23, [-126, 127]");
  if (n == 0) return;
  const float maxval = (2.f - pow2(-man)) * pow2(emax);
  const float overflow = inf_on_overflow && mode != RoundMode::kTowardZero ? HUGE_VALF : maxval;
  HWY_DYNAMIC_DISPATCH(RoundMinifloatImpl)(x, y, n, man, emin, inf_on_overflow, maxval, overflow, mode, stream);
}

float max_abs_finite(const float* x, int64_t n) {
  if (n <= 0) return 0.f;
  return HWY_DYNAMIC_DISPATCH(MaxAbsFiniteImpl)(x, n);
}

}  // namespace lowbit::kernels
#endif  // HWY_ONCE
